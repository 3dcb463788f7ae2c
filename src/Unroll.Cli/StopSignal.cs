using System.Runtime.InteropServices;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>
/// Ctrl-C, SIGTERM and an optional time limit as one cancellation token: a training loop that watches
/// <see cref="Token"/> stops after its current step, and the command still writes the run. As an observer of
/// the loop it checks the clock after every step.
/// </summary>
internal sealed class StopSignal : IDisposable, ITrainingObserver
{
    private readonly CancellationTokenSource _source = new();
    private readonly ConsoleCancelEventHandler _onCancel;
    private readonly PosixSignalRegistration? _onTerminate;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly TimeSpan? _timeLimit;
    private volatile bool _userStopped;
    private bool _listening;

    /// <summary>Starts listening for Ctrl-C and SIGTERM and, when given, the clock.</summary>
    public StopSignal(TimeSpan? timeLimit = null)
    {
        _timeLimit = timeLimit;
        if (timeLimit is { } limit && limit <= TimeSpan.Zero)
        {
            _source.Cancel();
        }

        // Cancel = true keeps the process alive so the run is saved instead of lost.
        _onCancel = (_, e) =>
        {
            e.Cancel = true;
            UserStop();
        };
        Console.CancelKeyPress += _onCancel;
        _onTerminate = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            UserStop();
        });
        _listening = true;
    }

    /// <summary>Cancelled by Ctrl-C, SIGTERM or when the time limit passes.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>True once any of them has asked the run to stop.</summary>
    public bool StopRequested => _source.IsCancellationRequested;

    /// <summary>True when the stop came from the user (Ctrl-C, SIGTERM) rather than the time limit.</summary>
    public bool UserStopped => _userStopped;

    /// <summary>Cancels once the time limit has passed (the clock is read after every step, never on a timer thread).</summary>
    public void Poll()
    {
        if (_timeLimit is { } limit && _clock.Elapsed >= limit && !_source.IsCancellationRequested)
        {
            _source.Cancel();
        }
    }

    /// <inheritdoc/>
    public void OnStep(Trainer trainer, StepMetrics metrics) => Poll();

    /// <summary>Stops listening (training is over; a later Ctrl-C ends the process as usual).</summary>
    public void Release()
    {
        if (_listening)
        {
            Console.CancelKeyPress -= _onCancel;
            _onTerminate?.Dispose();
            _listening = false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Release();
        _source.Dispose();
    }

    private void UserStop()
    {
        _userStopped = true;
        _source.Cancel();
    }
}
