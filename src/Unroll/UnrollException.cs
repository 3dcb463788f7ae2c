namespace Unroll;

/// <summary>
/// An error caused by what the user asked for or gave: a bad option, a malformed file,
/// data that cannot be used. Its message is written for the user ("expected X, got Y")
/// and names the file, line or option concerned; the command-line tool prints it as one
/// line and exits with a non-zero code.
/// </summary>
public class UnrollException : Exception
{
    /// <summary>Creates the exception with a message for the user.</summary>
    public UnrollException(string message) : base(message) { }

    /// <summary>Creates the exception with a message for the user and the underlying cause.</summary>
    public UnrollException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public UnrollException() : base("Unroll error.") { }
}
