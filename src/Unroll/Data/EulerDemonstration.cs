using System.Numerics;
using Unroll.Data;
using Unroll.Kernels;
using Unroll.Diagnostics;
using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Data;

/// <summary>What a linear RNN learned from an integrator's trajectories, beside the integrator's own W.</summary>
/// <param name="ExactMatrix">The integrator's 2 x 2 transition matrix W, (x, v) -> (x', v'), row-major.</param>
/// <param name="ExactEigenvalues">Its eigenvalues.</param>
/// <param name="LearnedMatrix">The trained network's W_hh (2 x 2, row-major).</param>
/// <param name="LearnedEigenvalues">Its eigenvalues.</param>
/// <param name="FinalLoss">The training loss at the end.</param>
internal sealed record EulerComparison(double[] ExactMatrix, Complex[] ExactEigenvalues, double[] LearnedMatrix, Complex[] LearnedEigenvalues, double FinalLoss);

/// <summary>
/// The notes' claim that the Euler integrator *is* a recurrent network with a fixed W: an
/// identity-activation RNN with two hidden units, shown the forcing F_t and, at t = 0 only, the
/// initial (x_0, v_0), is trained to output x_{t+1}. Its hidden state must then carry (x, v) in
/// some basis, so its W_hh is similar to the integrator's W and has the same eigenvalues
/// (eigenvalues do not depend on the basis).
/// </summary>
internal static class EulerDemonstration
{
    /// <summary>The integrator's 2 x 2 matrix: explicit or semi-implicit Euler (RK4 has no fixed W given here).</summary>
    /// <exception cref="UnrollException">The integrator is RK4.</exception>
    public static double[] ExactMatrix(Integrator integrator, double mass, double damping, double dt)
    {
        var w = integrator switch
        {
            Integrator.ExplicitEuler => Oscillator.EulerTransitionMatrix(mass, damping, dt),
            Integrator.SemiImplicitEuler => Oscillator.SemiImplicitEulerTransitionMatrix(mass, damping, dt),
            _ => throw new UnrollException("integrator: expected euler or semi-implicit (a fixed 2 x 2 recurrence), got rk4."),
        };
        return [w[0, 0], w[0, 1], w[1, 0], w[1, 1]];
    }

    /// <summary>Generates trajectories with <paramref name="integrator"/>, trains the two-unit linear RNN on them, and compares.</summary>
    public static EulerComparison Run(Integrator integrator, double mass, double damping, double dt, int trainingSteps, int seed)
    {
        var exact = ExactMatrix(integrator, mass, damping, dt);
        var options = new OscillatorDatasetOptions
        {
            Integrator = integrator, Mass = mass, Damping = damping, TimeStep = dt, Steps = 60,
            TrainCount = 256, ValidationCount = 1, TestCount = 1, ForcingKinds = [ForcingKind.Sine, ForcingKind.Noise, ForcingKind.None],
        };
        options.Validate();
        var data = OscillatorDataset.Generate(options, seed);
        var trajectories = data.TrainTrajectories;
        int count = trajectories.Count, steps = options.Steps;
        var inputs = new double[count * steps * 3];
        var targets = new double[count * steps];
        for (int s = 0; s < count; s++)
        {
            var trajectory = trajectories[s];
            for (int t = 0; t < steps; t++)
            {
                int row = (s * steps) + t;
                inputs[row * 3] = trajectory.Force[t];
                inputs[(row * 3) + 1] = t == 0 ? trajectory.X[0] : 0;
                inputs[(row * 3) + 2] = t == 0 ? trajectory.V[0] : 0;
                targets[row] = trajectory.X[t + 1];
            }
        }

        var set = new SequenceSet(count, steps, ["force", "x0 at t=0", "v0 at t=0"], ["x_next"], inputs, targets);
        var model = new SequenceModel<float>(new ModelConfig { InputSize = 3, HiddenSize = 2, OutputSize = 1, Activation = Activation.Identity }, seed);
        var history = new Trainer(model, new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.02 },
            Steps = trainingSteps,
            BatchSize = 32,
            Seed = seed,
            ClipNorm = 1,
        }).Run(set, null);
        var learned = model.Parameters.Value(SequenceModel<float>.WeightHhName).ToArray().Select(v => (double)v).ToArray();
        return new EulerComparison(exact, Eigen.Eigenvalues(exact, 2), learned, Eigen.Eigenvalues(learned, 2), history[^1].TrainLoss);
    }
}
