#:project ../src/Unroll/Unroll.csproj
// A character language model: `dotnet run samples/char-lm.cs` trains on a small generated text;
// `dotnet run samples/char-lm.cs -- path/to/text.txt 2000` trains on your file for 2000 steps.
using Unroll.Data.Text;
using Unroll.Models;
using Unroll.Training;

string text = args.Length > 0 ? File.ReadAllText(args[0]) : Rhymes(new Random(1), sentences: 3000);
int steps = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100;
var corpus = TextCorpus.FromText(text, args.Length > 0 ? args[0] : "rhymes", new TextCorpusOptions { ValidationFraction = 0.1 });
int v = corpus.Vocabulary.Count;

// Token ids in, the logits of the next character out, at every step.
var model = new SequenceModel<float>(new ModelConfig
{
    Architecture = Architecture.Lstm,
    VocabularySize = v,
    InputSize = 32,
    HiddenSize = 64,
    OutputSize = v,
    Head = HeadKind.Classification,
}, seed: 1);
var history = new Trainer(model, new TrainingOptions { Steps = steps, BatchSize = 32, Bptt = [50], ValidateEvery = 50 })
    .RunOnTokens(corpus.Train, corpus.Validation, step =>
    {
        if (!double.IsNaN(step.ValidationLoss))
        {
            Console.WriteLine($"step {step.Step}: validation {step.ValidationLoss / Math.Log(2):F3} bits per character");
        }
    });

Console.WriteLine(TextSampler.Sample(model, corpus.Vocabulary, "the ", length: 120, temperature: 0.8, seed: 1));

// Knowing nothing costs log2(V) bits per character; a model that learnt the spelling does far better.
double bits = history[^1].ValidationLoss / Math.Log(2);
Console.WriteLine($"{bits:F3} bits per character against {Math.Log2(v):F3} for a uniform guess over {v} characters");
return bits < 0.75 * Math.Log2(v) ? 0 : 1;

static string Rhymes(Random random, int sentences)
{
    string[] subjects = ["the cat", "the dog", "a bird", "the old man", "my friend"];
    string[] verbs = ["sees", "likes", "follows", "calls", "finds"];
    string[] objects = ["the moon", "a red ball", "the river", "the small house", "the green tree"];
    var text = new System.Text.StringBuilder();
    for (int s = 0; s < sentences; s++)
    {
        text.Append(subjects[random.Next(subjects.Length)]).Append(' ')
            .Append(verbs[random.Next(verbs.Length)]).Append(' ')
            .Append(objects[random.Next(objects.Length)]).Append(".\n");
    }

    return text.ToString();
}
