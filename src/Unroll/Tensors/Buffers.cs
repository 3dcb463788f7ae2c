namespace Unroll.Tensors;

/// <summary>Workspace buffers that grow to the largest size asked for and are then reused.</summary>
internal static class Buffers
{
    /// <summary>Replaces <paramref name="buffer"/> with a larger one when it holds fewer than <paramref name="length"/> elements.</summary>
    public static void Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new T[length];
        }
    }
}
