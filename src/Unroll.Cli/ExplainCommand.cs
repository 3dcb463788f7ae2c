using System.CommandLine;
using System.Globalization;
using Unroll.Data;
using Unroll.Diagnostics;
using Unroll.IO;
using Unroll.Plots;

namespace Unroll.Cli;

/// <summary>`unroll explain eigen`: the notes' arguments, demonstrated.</summary>
internal static class ExplainCommand
{
    private static readonly double[] Moduli = [0.9, 1.0, 1.1];

    private static Command CreateEuler(CliConsole console)
    {
        var mass = Options.Make("--mass", "Mass m", 1.0);
        var damping = Options.Make("--damping", "Damping eta (0: the undamped oscillator of the notes)", 0.0);
        var dt = Options.Make("--dt", "Time step", 0.1);
        var trainingSteps = Options.Make("--steps", "Training steps of the two-unit linear RNN", 1500);
        var seed = Options.Make("--seed", "Seeds the data and the network", 1);
        var euler = new Command("euler", "The oscillator's Euler step as a linear RNN: its exact W and eigenvalues, against the W an identity RNN learns")
        {
            mass, damping, dt, trainingSteps, seed,
        };
        euler.SetAction(parse =>
        {
            double m = parse.GetValue(mass), eta = parse.GetValue(damping), step = parse.GetValue(dt);
            new OscillatorParameters { Mass = m, Damping = eta, TimeStep = step }.Validate();
            int steps = parse.GetValue(trainingSteps);
            if (steps < 1)
            {
                throw new UnrollException($"--steps: expected at least 1, got {steps}.");
            }

            var text = console.Output;
            text.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"m x'' + eta x' + x = F(t) with m = {m}, eta = {eta}, dt = {step}: one integrator step is s_(t+1) = W s_t + (forcing), s = (x, v)."));
            foreach (var integrator in new[] { Integrator.ExplicitEuler, Integrator.SemiImplicitEuler })
            {
                var result = EulerDemonstration.Run(integrator, m, eta, step, steps, parse.GetValue(seed));
                string name = integrator == Integrator.ExplicitEuler ? "Explicit Euler" : "Semi-implicit Euler";
                text.WriteLine();
                text.WriteLine($"{name}:");
                text.WriteLine($"  exact W   = {Matrix(result.ExactMatrix)}   eigenvalues {Eigenvalues(result.ExactEigenvalues)}");
                text.WriteLine($"  learned W = {Matrix(result.LearnedMatrix)}   eigenvalues {Eigenvalues(result.LearnedEigenvalues)}");
                text.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  (a 2-unit identity RNN shown F_t and, at t = 0, (x_0, v_0); training MSE {result.FinalLoss:0.0E+00}; W is learned in its own basis, so compare eigenvalues)"));
            }

            text.WriteLine();
            text.WriteLine("Explicit Euler on an undamped oscillator has |lambda| = sqrt(1 + dt^2/m) > 1: the energy grows every step, as W^t h explodes.");
            text.WriteLine("Undamped, semi-implicit Euler has det W = 1 and |lambda| = 1 (for dt^2 < 4m): the energy neither grows nor decays.");
            return CliApp.Success;
        });
        return euler;
    }

    private static string Matrix(double[] w) => string.Create(CultureInfo.InvariantCulture, $"[[{w[0],9:F5} {w[1],9:F5}] [{w[2],9:F5} {w[3],9:F5}]]");

    private static string Eigenvalues(System.Numerics.Complex[] values) =>
        string.Join(", ", values.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Real:F5}{e.Imaginary:+0.00000;-0.00000}i (|lambda| = {e.Magnitude:F6})")));

    public static Command Create(CliConsole console)
    {
        var size = Options.Make("--size", "Size n of the n x n matrices W", 8);
        var steps = Options.Make("--steps", "Steps t of h_t = W h_{t-1} to follow", 60);
        var seed = Options.Make("--seed", "Seeds the matrices' eigenvectors and h_0", 1);
        var output = Options.Make("--output", "Directory to write eigen.svg into (no plot when absent)", string.Empty);
        output.Aliases.Add("-o");
        var eigen = new Command("eigen", "||W^t h_0|| against t for largest |lambda| below, at and above 1, beside lambda_max^t alone")
        {
            size, steps, seed, output,
        };
        eigen.SetAction(parse =>
        {
            int n = parse.GetValue(size), t = parse.GetValue(steps);
            // The demonstration builds and diagonalises n x n matrices (n^3 work) and keeps t + 1 norms per curve.
            if (n > 1024)
            {
                throw new UnrollException($"--size: expected at most 1024 (the demonstration diagonalises an n x n matrix, n^3 work), got {n}.");
            }

            if (t > 1_000_000)
            {
                throw new UnrollException($"--steps: expected at most 1000000 steps, got {t}.");
            }

            var series = Moduli.Select(m => EigenDemonstration.Run(m, n, t, parse.GetValue(seed))).ToList();
            var text = console.Output;
            text.WriteLine("h_t = W h_{t-1} = W^t h_0 = sum_i alpha_i lambda_i^t w_i: the largest |lambda| takes over.");
            text.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"W: {n} x {n}, symmetric, other eigenvalues in [0.3, 0.8] x |lambda_1|; ||h_0|| = 1. Columns: ||W^t h_0|| (ratio to |alpha_1| |lambda_1|^t)."));
            text.WriteLine($"{"t",6}" + string.Concat(Moduli.Select(m => string.Create(CultureInfo.InvariantCulture, $"{"|lambda_1| = " + m.ToString("0.0", CultureInfo.InvariantCulture),28}"))));
            int every = Math.Max(1, t / 10);
            for (int step = 0; step <= t; step += every)
            {
                text.WriteLine($"{step,6}" + string.Concat(series.Select(s => string.Create(CultureInfo.InvariantCulture,
                    $"{s.Norms[step],14:0.000E+00} ({s.Norms[step] / s.DominantTerm[step],9:F4})  "))));
            }

            text.WriteLine("Below 1 the state (and, by the same product of Jacobians, the gradient) vanishes; above 1 it explodes; at 1 it holds.");
            string directory = parse.GetValue(output)!;
            if (directory.Length > 0)
            {
                Directory.CreateDirectory(directory);
                var chart = new Chart { Title = "||W^t h0|| against t", XLabel = "t", YLabel = "norm", LogY = true };
                var axis = Enumerable.Range(0, t + 1).Select(i => (double)i).ToList();
                foreach (var s in series)
                {
                    string label = s.LargestModulus.ToString("0.0", CultureInfo.InvariantCulture);
                    chart.AddLine($"|lambda_1| = {label}", axis, s.Norms);
                    chart.AddLine($"|alpha_1| {label}^t", axis, s.DominantTerm, dashed: true);
                }

                string path = Path.Combine(directory, "eigen.svg");
                AtomicFile.WriteAllText(path, chart.ToSvg());
                text.WriteLine($"Wrote {path}");
            }

            return CliApp.Success;
        });
        return new Command("explain", "Demonstrations of the arguments behind vanishing and exploding gradients") { eigen, CreateEuler(console) };
    }
}
