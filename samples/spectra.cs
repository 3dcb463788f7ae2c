#:project ../src/Unroll/Unroll.csproj
// Seeing vanishing gradients: `dotnet run samples/spectra.cs`. A tanh RNN whose recurrent matrix has a largest
// singular value below 1 (the bound 1/gamma, gamma = 1 for tanh) must lose its gradient through time; the measured
// gradient flow shows how fast, and scaling the matrix up changes the regime.
using Unroll.Diagnostics;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

// 16 sequences of 100 steps of white noise; the target at each step is the input 10 steps earlier.
var random = new Random(2);
var inputs = new List<double[,]>();
var targets = new List<double[,]>();
for (int s = 0; s < 16; s++)
{
    var x = new double[100, 1];
    var y = new double[100, 1];
    for (int t = 0; t < 100; t++)
    {
        x[t, 0] = random.NextDouble() - 0.5;
        y[t, 0] = t >= 10 ? x[t - 10, 0] : 0;
    }

    inputs.Add(x);
    targets.Add(y);
}

var data = SequenceSet.FromArrays(inputs, targets);
var config = new ModelConfig { Architecture = Architecture.Rnn, Activation = Activation.Tanh, InputSize = 1, HiddenSize = 32, OutputSize = 1 };
var model = new SequenceModel<double>(config, seed: 1);   // PyTorch's U(-1/sqrt(H), 1/sqrt(H))
var initial = model.Parameters.Value(SequenceModel<double>.WeightHhName).ToArray();
int failures = 0;
foreach (double scale in new[] { 0.5, 1.0, 4.0 })
{
    // Scale W_hh: its eigenvalues and singular values scale with it.
    var whh = model.Parameters.Value(SequenceModel<double>.WeightHhName);
    for (int i = 0; i < whh.Length; i++)
    {
        whh[i] = scale * initial[i];
    }

    var spectrum = Spectra.Of(model)[0];
    var regime = Spectra.Classify(spectrum, config.Activation);
    var flow = GradientFlow.Measure(model, data)[0];

    // ||dL_T/dh_0|| / ||dL_T/dh_T||: how much of the last step's gradient reaches the first step.
    Console.WriteLine($"W_hh x{scale}: spectral radius {spectrum.SpectralRadius:F3}, largest singular value {spectrum.LargestSingularValue:F3} -> {regime}");
    Console.WriteLine($"  gradient of the last step's loss reaching step 0: {flow.LastStepLossRatio:E2} of what reaches step 99");
    if (regime == GradientRegime.VanishingGuaranteed && flow.LastStepLossRatio > Math.Pow(spectrum.LargestSingularValue, 99))
    {
        failures++;   // the bound: ||dL_T/dh_0|| <= (gamma ||W_hh||_2)^99 ||dL_T/dh_99||, gamma = 1 for tanh
    }
}

return failures;
