using Unroll.Inference;
using Unroll.Models;
using Unroll.Onnx;

namespace Unroll.Cli.Tests;

/// <summary>
/// ONNX Runtime streams an exported model step by step (each call's final states fed back as the next call's initial
/// states) to the predictor session's outputs and states: the export gives a streaming caller what it needs.
/// </summary>
public sealed class PredictorOnnxTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("lstm", 0)]
    [InlineData("gru", 0)]
    [InlineData("rnn", 7)]
    [InlineData("lstm", 7)]
    public void OnnxRuntimeStreamedOneStepAtATimeGivesThePredictorSessionsOutputs(string architecture, int vocabulary)
    {
        const int Streams = 2, Steps = 6;
        var config = new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = 3, HiddenSize = 10, Layers = 2, VocabularySize = vocabulary,
            OutputSize = vocabulary > 0 ? vocabulary : 2, Head = vocabulary > 0 ? HeadKind.Classification : HeadKind.Regression,
        };
        var model = new SequenceModel<float>(config, seed: 4);
        string path = _temp.File($"{architecture}-{vocabulary}.onnx");
        OnnxExporter.Save(path, model);
        using var ort = new OnnxRuntimeSession(path);
        var session = new Predictor<float>(model).CreateSession(Streams);
        bool lstm = architecture == "lstm";
        long[] stateShape = [config.Layers, Streams, config.HiddenSize];
        var h = new float[config.Layers * Streams * config.HiddenSize];
        var c = new float[h.Length];
        var random = new Random(5);
        string[] outputNames = lstm
            ? [OnnxExporter.OutputName(config), OnnxExporter.FinalStateName, OnnxExporter.FinalCellName]
            : [OnnxExporter.OutputName(config), OnnxExporter.FinalStateName];
        var outputs = new float[Streams * config.OutputSize];
        for (int step = 0; step < Steps; step++)
        {
            var feeds = new List<OnnxFeed> { new(OnnxExporter.InitialStateName, (float[])h.Clone(), stateShape) };
            if (lstm)
            {
                feeds.Add(new(OnnxExporter.InitialCellName, (float[])c.Clone(), stateShape));
            }

            if (vocabulary > 0)
            {
                int[] tokens = [random.Next(vocabulary), random.Next(vocabulary)];
                feeds.Add(new(OnnxExporter.TokenInputName, tokens.Select(t => (long)t).ToArray(), [1, Streams]));
                session.Step(tokens, outputs);
            }
            else
            {
                var inputs = Enumerable.Range(0, Streams * config.InputSize).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
                feeds.Add(new(OnnxExporter.DenseInputName, inputs, [1, Streams, config.InputSize]));
                session.Step(inputs, outputs);
            }

            var result = ort.Run(feeds, outputNames);
            AssertClose(result[outputNames[0]].Values, outputs, $"step {step} outputs");
            h = result[OnnxExporter.FinalStateName].Values;
            AssertClose(h, session.Hidden.ToArray(), $"step {step} final_h");
            if (lstm)
            {
                c = result[OnnxExporter.FinalCellName].Values;
                AssertClose(c, session.Cell.ToArray(), $"step {step} final_c");
            }
        }
    }

    private static void AssertClose(float[] ort, float[] predictor, string what)
    {
        Assert.Equal(ort.Length, predictor.Length);
        for (int i = 0; i < ort.Length; i++)
        {
            // ONNX Runtime's float operators sum in another order (docs/onnx.md: within 1e-4 (1 + |value|) for --verify).
            Assert.True(Math.Abs(ort[i] - predictor[i]) <= 1e-5 * (1 + Math.Abs(ort[i])), $"{what}[{i}]: ONNX Runtime {ort[i]}, predictor {predictor[i]}");
        }
    }
}
