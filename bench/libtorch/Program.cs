// The LibTorch (TorchSharp-cpu) side of bench/compare-libtorch.sh: the same four training configurations as
// Unroll.Bench (TrainBenchmark) and bench/reference/torch_bench.py, timed the same way. One step = forward + loss
// + backward + clip-norm 5 + Adam; 3 warm-up steps, then at least 5 steps and the time budget.
// usage: LibTorchBench THREADS SECONDS [SUITE...]
// prints one line per suite: train SUITE THREADS BEST_MS MEDIAN_MS CHARS_PER_S BEST_CPU_MS
using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

int threads = int.Parse(args[0], CultureInfo.InvariantCulture);
double seconds = double.Parse(args[1], CultureInfo.InvariantCulture);
string[] suites = args.Length > 2 ? args[2..] : ["lstm-512", "lstm-256", "gru-512", "rnn-128"];
torch.set_num_threads(threads);
torch.set_num_interop_threads(1);
Console.WriteLine($"# TorchSharp {typeof(torch).Assembly.GetName().Version}, LibTorch {torch.__version__}, threads {torch.get_num_threads()}");
var configs = new Dictionary<string, (string Cell, int Hidden, int Steps, int Batch, int Vocabulary)>
{
    ["lstm-512"] = ("lstm", 512, 64, 32, 65),
    ["lstm-256"] = ("lstm", 256, 100, 64, 65),
    ["gru-512"] = ("gru", 512, 64, 32, 65),
    ["rnn-128"] = ("rnn", 128, 200, 32, 0),
};
const int Embedding = 64;
foreach (string suite in suites)
{
    var (cell, hidden, steps, batch, vocabulary) = configs[suite];
    torch.manual_seed(1);
    bool dense = vocabulary == 0;
    int inputs = dense ? 1 : Embedding;
    var embedding = dense ? null : nn.Embedding(vocabulary, Embedding);
    var lstm = cell == "lstm" ? nn.LSTM(inputs, hidden) : null;
    nn.Module<Tensor, Tensor?, (Tensor, Tensor)>? other = cell switch
    {
        "gru" => nn.GRU(inputs, hidden),
        "rnn" => nn.RNN(inputs, hidden),
        _ => null,
    };
    var head = nn.Linear(hidden, dense ? 1 : vocabulary);
    var parameters = new List<TorchSharp.Modules.Parameter>();
    if (embedding != null)
    {
        parameters.AddRange(embedding.parameters());
    }

    parameters.AddRange(lstm != null ? lstm.parameters() : other!.parameters());
    parameters.AddRange(head.parameters());
    var optimizer = optim.Adam(parameters, 1e-3);
    Tensor x, y;
    if (dense)
    {
        var r = arange(steps * batch, dtype: float32);
        x = sin(r * 0.01f).reshape(steps, batch, 1);
        y = cos(r * 0.01f).reshape(steps, batch, 1);
    }
    else
    {
        x = randint(0, vocabulary, [steps, batch]);
        y = randint(0, vocabulary, [steps * batch]);
    }

    void Step()
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var input = dense ? x : embedding!.forward(x);
        var h = lstm != null ? lstm.forward(input).Item1 : other!.forward(input, null).Item1;
        var output = head.forward(h);
        var loss = dense ? nn.functional.mse_loss(output, y) : nn.functional.cross_entropy(output.reshape(-1, vocabulary), y);
        loss.backward();
        nn.utils.clip_grad_norm_(parameters, 5.0);
        optimizer.step();
    }

    for (int i = 0; i < 3; i++)
    {
        Step();
    }

    var times = new List<double>();
    double bestCpu = double.MaxValue;
    var total = Stopwatch.StartNew();
    while (times.Count < 5 || total.Elapsed.TotalSeconds < seconds)
    {
        long start = Stopwatch.GetTimestamp();
        TimeSpan cpuStart = Environment.CpuUsage.TotalTime;
        Step();
        bestCpu = Math.Min(bestCpu, (Environment.CpuUsage.TotalTime - cpuStart).TotalMilliseconds);
        times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    times.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"train {suite} {threads} {times[0]:F2} {times[times.Count / 2]:F2} {steps * batch / (times[0] / 1e3):F0} {bestCpu:F2}"));
}
