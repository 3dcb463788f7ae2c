namespace Unroll.Cli;

/// <summary>
/// Ctrl-C and an optional time limit as one cancellation token: a training loop that watches
/// <see cref="Token"/> stops after its current step, and the command still writes the run.
/// </summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly ConsoleCancelEventHandler _onCancel;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly TimeSpan? _timeLimit;
    private volatile bool _userStopped;
    private bool _listening;

    /// <summary>Starts listening for Ctrl-C and, when given, the clock.</summary>
    public StopSignal(TimeSpan? timeLimit = null)
    {
        _timeLimit = timeLimit;
        if (timeLimit is { } limit)
        {
            _source.CancelAfter(limit);
        }

        // Cancel = true keeps the process alive so the run is saved instead of lost.
        _onCancel = (_, e) =>
        {
            e.Cancel = true;
            _userStopped = true;
            _source.Cancel();
        };
        Console.CancelKeyPress += _onCancel;
        _listening = true;
    }

    /// <summary>Cancelled by Ctrl-C or when the time limit passes.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>True once either has asked the run to stop.</summary>
    public bool StopRequested => _source.IsCancellationRequested;

    /// <summary>True when the stop came from Ctrl-C rather than the time limit.</summary>
    public bool UserStopped => _userStopped;

    /// <summary>
    /// Cancels once the time limit has passed. Call it after every step: the timer behind
    /// CancelAfter runs on the thread pool and can fire late when the pool is busy.
    /// </summary>
    public void Poll()
    {
        if (_timeLimit is { } limit && _clock.Elapsed >= limit && !_source.IsCancellationRequested)
        {
            _source.Cancel();
        }
    }

    /// <summary>Stops listening for Ctrl-C (training is over; a later Ctrl-C ends the process as usual).</summary>
    public void Release()
    {
        if (_listening)
        {
            Console.CancelKeyPress -= _onCancel;
            _listening = false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Release();
        _source.Dispose();
    }
}
