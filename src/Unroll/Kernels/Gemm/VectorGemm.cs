using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels.Gemm;

/// <summary>
/// Single-threaded SIMD GEMM for float and double, blocked in the GotoBLAS/BLIS way:
/// loops over NC columns of C, KC steps of k (B packed), MC rows (A packed), then NR x MR
/// micro-tiles computed by a register-blocked micro-kernel.
/// </summary>
/// <remarks>
/// The micro-kernel keeps an <see cref="MicroRows"/> x (2 vectors) block of C in 12 YMM
/// accumulators: 6 x 16 floats or 6 x 8 doubles. Per step of k it loads two vectors of the packed B
/// panel, broadcasts six elements of the packed A panel and issues 12 fused multiply-adds, so 15 of
/// the 16 YMM registers hold live values and the loop is FMA-bound rather than load-bound.
/// Packing turns all four op(A)/op(B) combinations into the same contiguous panels, so the
/// transposes are only ever read in place, one small panel at a time. Partial panels are zero-padded
/// and their tiles go through a scratch tile, so any m, n, k and leading dimension is handled.
/// Under <see cref="GemmVariant.Vector512"/> the same code packs panels of 2 x 512-bit vectors (32 floats) and
/// the wide kernels (<see cref="MicroKernelWide{T}"/> and its kin) hold the tile in ZMM registers.
/// Types other than float and double defer to <see cref="ReferenceGemm"/>.
/// </remarks>
// No zeroing of the kernels' stackalloc tiles (each is written before it is read): a zeroing helper call after the k
// loop, with every accumulator live, made the JIT spill the accumulators inside the loop when it had no profile to
// tell the loop is hot (Native AOT, or tiering off), and the kernels ran three times slower.
[SkipLocalsInit]
internal static unsafe class VectorGemm
{
    /// <summary>Rows of C per micro-tile (MR).</summary>
    internal const int MicroRows = 6;

    /// <summary>Depth of one packed block (KC): a 6 x 256 float A panel (6 KB) plus a 256 x 16 B panel (16 KB) fit in L1.</summary>
    internal const int DepthBlock = 256;

    /// <summary>Rows of A packed at once (MC), in bytes of one row of the block: MC x KC stays in L2.</summary>
    private const int RowBlockBytes = 144 * sizeof(float);

    /// <summary>Columns of B packed at once (NC): KC x NC floats (4 MB) stay in L3.</summary>
    private const int ColumnBlockBytes = 4096 * sizeof(float);

    /// <summary>
    /// Columns of B packed at once when op(A) is a single row block: the KC x 256 block (256 KB) stays in L2 next to
    /// packed A, and each row of B is read 1 KB at a time (whole cache lines in a row, which the prefetcher follows;
    /// one 64-byte panel row per row of B, 8 KB apart, misses the TLB and the prefetcher at every row).
    /// </summary>
    private const int ColumnGroupBytes = 256 * sizeof(float);

    /// <summary>Below this m*n*k a product runs on the calling thread alone: waking a worker would cost more than it saves.</summary>
    internal const long MinParallelWork = 64 * 64 * 64;

    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            ReferenceGemm.Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        fixed (T* pa = a)
        fixed (T* pb = b)
        fixed (T* pc = c)
        {
            if (k == 0 || alpha == T.Zero)
            {
                // BLAS quick return: op(A) * op(B) contributes nothing, so C = beta * C.
                ScaleC(m, n, beta, pc, ldc);
                return;
            }

            int parts = Parts(m, n, k, out bool splitColumns);
            BufferLengths<T>(m, n, k, out int aLength, out int bLength);
            if (parts == 1)
            {
                Blocked(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, PackBuffers<T>.A(aLength), PackBuffers<T>.B(bLength), ReadsAInPlace<T>(transA, m, n));
                return;
            }

            var job = GemmJob<T>.ForThisThread();
            job.Set(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, splitColumns, parts, aLength, bLength, ReadsAInPlace<T>(transA, m, n));
            WorkerPool.Run(job, parts);
        }
    }

    /// <summary>
    /// C = alpha * op(A) * B + beta * C with B packed beforehand by <see cref="PackedOperand{T}"/> (the recurrent weight,
    /// packed once per sequence and reused at every step); the workers split the columns of C. A row-major op(A) = A is
    /// read in place by every worker; a transposed one is packed once, by the calling thread, and shared.
    /// </summary>
    public static void ComputePacked<T>(
        Transpose transA, int m, T alpha, ReadOnlySpan<T> a, int lda, PackedOperand<T> b, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = b.Columns, k = b.Depth;
        if (m == 0 || n == 0)
        {
            return;
        }

        fixed (T* pa = a)
        fixed (T* pc = c)
        fixed (T* pb = b.Panels)
        {
            if (k == 0 || alpha == T.Zero)
            {
                ScaleC(m, n, beta, pc, ldc);
                return;
            }

            T* aSource = pa;
            int aStride = lda;
            if (transA == Transpose.Yes)
            {
                int mPadded = RoundUp(m, MicroRows);
                aSource = PackBuffers<T>.A(mPadded * k);
                aStride = 0;
                for (int pcol = 0; pcol < k; pcol += DepthBlock)
                {
                    int kc = Math.Min(DepthBlock, k - pcol);
                    PackA(transA, pa, lda, 0, pcol, m, kc, aSource + ((long)pcol * mPadded));
                }
            }

            int panels = (n + MicroColumns<T>() - 1) / MicroColumns<T>();
            int parts = Math.Min(Parts(m, n, k, out _), panels);
            var job = GemmJob<T>.ForThisThread();
            job.SetPacked(m, n, k, alpha, aSource, aStride, pb, beta, pc, ldc);
            WorkerPool.Run(job, parts);
        }
    }

    /// <summary>
    /// Columns [firstColumn, endColumn) of C = alpha * A * B + beta * C on the calling thread alone, with A row-major
    /// (m x k, lda) read in place and B packed beforehand: the piece of a per-step product that one part of a
    /// parallel time step computes. Both column bounds are multiples of <see cref="MicroColumns{T}"/> (the end may also be n).
    /// </summary>
    public static void ComputePackedColumns<T>(
        int m, T alpha, ReadOnlySpan<T> a, int lda, PackedOperand<T> b, T beta, Span<T> c, int ldc, int firstColumn, int endColumn)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = b.Columns, k = b.Depth, nr = MicroColumns<T>();
        if (firstColumn % nr != 0 || (endColumn % nr != 0 && endColumn != n) || firstColumn < 0 || endColumn > n)
        {
            throw new ArgumentException($"GEMM column range [{firstColumn}, {endColumn}) must lie in [0, {n}] on whole panels of {nr} columns.");
        }

        if (m == 0 || endColumn <= firstColumn)
        {
            return;
        }

        fixed (T* pa = a)
        fixed (T* pc = c)
        fixed (T* pb = b.Panels)
        {
            if (k == 0 || alpha == T.Zero)
            {
                ScaleC(m, endColumn - firstColumn, beta, pc + firstColumn, ldc);
                return;
            }

            PrepackedPart(m, n, k, alpha, pa, lda, pb, beta, pc, ldc, firstColumn / nr, (endColumn + nr - 1) / nr);
        }
    }

    /// <summary>
    /// Whether the blocked product reads the rows of a row-major op(A) in place with the wide eight-row kernel: under
    /// the 512-bit variant, for a single row block whose product is always split by columns (more column tiles than
    /// row tiles, see <see cref="Parts"/>), so every part, at any thread count, has all m rows and the same tiles.
    /// </summary>
    private static bool ReadsAInPlace<T>(Transpose transA, int m, int n)
        where T : unmanaged
        => Wide && transA == Transpose.No && m <= RowBlockBytes / sizeof(T) / MicroRows * MicroRows
            && (n + 15) / 16 >= (m + MicroRows - 1) / MicroRows;

    /// <summary>How many parts to split a product into, and along which dimension of C.</summary>
    private static int Parts(int m, int n, int k, out bool splitColumns)
    {
        int threads = Parallelism.ThreadCount;
        long work = (long)m * n * k;
        int rowTiles = (m + MicroRows - 1) / MicroRows;
        int columnTiles = (n + 15) / 16;

        // Split the dimension with more micro-tiles; a thread's slice then keeps whole tiles.
        splitColumns = columnTiles >= rowTiles || rowTiles < 2 * threads;
        int tiles = splitColumns ? columnTiles : rowTiles;
        return threads <= 1 || work < MinParallelWork ? 1 : Math.Max(1, Math.Min(threads, tiles));
    }

    /// <summary>
    /// The macro-loops for a B packed beforehand: every k-block, this part's column panels, every row panel of op(A).
    /// With <paramref name="lda"/> = 0, <paramref name="a"/> is op(A) packed by <see cref="PackA{T}"/> for all k-blocks;
    /// otherwise it is a row-major A read in place, whose last rows (fewer than six) are packed here into a scratch panel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void PrepackedPart<T>(
        int m, int n, int k, T alpha, T* a, int lda, T* packedB, T beta, T* c, int ldc, int firstPanel, int endPanel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = MicroColumns<T>();
        int mPadded = RoundUp(m, MicroRows), nPadded = RoundUp(n, nr);
        bool inPlace = lda != 0;
        bool wide = Wide;

        // The wide kernels read A in place eight rows at a time (the 32 rows of a batch are four whole tiles, where six-row
        // tiles would spend a whole tile on the last two); the rows left over go through packed six-row tiles.
        int inPlaceTile = wide ? WideRowMajorRows : MicroRows;
        int inPlaceRows = inPlace ? m / inPlaceTile * inPlaceTile : 0;

        // On the stack (at most 12 x 256 values), not in a per-thread buffer: any thread may run any part, and none allocates.
        T* tailPanel = stackalloc T[2 * MicroRows * DepthBlock];
        T* scratch = inPlace && inPlaceRows < m ? tailPanel : null;
        for (int pcol = 0; pcol < k; pcol += DepthBlock)
        {
            int kc = Math.Min(DepthBlock, k - pcol);
            T betaBlock = pcol == 0 ? beta : T.One;
            T* packedRows = inPlace ? scratch : a + ((long)pcol * mPadded);
            if (scratch != null)
            {
                PackA(Transpose.No, a, lda, inPlaceRows, pcol, m - inPlaceRows, kc, scratch);
            }

            T* bBlock = packedB + ((long)pcol * nPadded);
            for (int panel = firstPanel; panel < endPanel; panel++)
            {
                int jr = panel * nr;
                int cols = Math.Min(nr, n - jr);
                T* bPanel = bBlock + ((long)jr * kc);
                for (int ir = 0; ir < inPlaceRows; ir += inPlaceTile)
                {
                    if (wide)
                    {
                        MicroKernelRowMajorAWide(kc, a + ((long)ir * lda) + pcol, lda, bPanel, c + ((long)ir * ldc) + jr, ldc, alpha, betaBlock, cols);
                    }
                    else
                    {
                        MicroKernelRowMajorA(kc, a + ((long)ir * lda) + pcol, lda, bPanel, c + ((long)ir * ldc) + jr, ldc, alpha, betaBlock, cols);
                    }
                }

                for (int ir = inPlaceRows; ir < m; ir += MicroRows)
                {
                    int rows = Math.Min(MicroRows, m - ir);
                    if (wide)
                    {
                        MicroKernelWide(kc, packedRows + ((long)(ir - inPlaceRows) * kc), bPanel, c + ((long)ir * ldc) + jr, ldc, alpha, betaBlock, rows, cols);
                    }
                    else
                    {
                        MicroKernel(kc, packedRows + ((long)(ir - inPlaceRows) * kc), bPanel, c + ((long)ir * ldc) + jr, ldc, alpha, betaBlock, rows, cols);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs all of op(B) (k x n) in the layout <see cref="PrepackedPart{T}"/> reads: per k-block of <see cref="DepthBlock"/>,
    /// NR-column panels. A large operand (the recurrent weight, packed before every sequence's loop) is split by panels
    /// over the kernel threads: packing is a copy, so the result is the same for any split.
    /// </summary>
    internal static void PackAll<T>(Transpose transB, int k, int n, ReadOnlySpan<T> b, int ldb, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int panels = (n + MicroColumns<T>() - 1) / MicroColumns<T>();
        int parts = (long)k * n < MinParallelPackElements ? 1 : Math.Min(Parallelism.ThreadCount, panels);
        fixed (T* pb = b)
        fixed (T* pd = destination)
        {
            if (parts <= 1)
            {
                PackPanels(transB, k, n, pb, ldb, pd, 0, panels);
                return;
            }

            var job = PackJob<T>.ForThisThread();
            job.Set(transB, k, n, pb, ldb, pd, panels);
            WorkerPool.Run(job, parts);
        }
    }

    /// <summary>Below this many elements an operand is packed on the calling thread alone (a wake-up costs more).</summary>
    private const long MinParallelPackElements = 1 << 16;

    /// <summary>Panels [<paramref name="firstPanel"/>, <paramref name="endPanel"/>) of <see cref="PackAll{T}"/>, every k-block.</summary>
    private static void PackPanels<T>(Transpose transB, int k, int n, T* b, int ldb, T* destination, int firstPanel, int endPanel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = MicroColumns<T>(), nPadded = RoundUp(n, nr);
        int firstColumn = firstPanel * nr, endColumn = Math.Min(n, endPanel * nr);
        if (firstColumn >= endColumn)
        {
            return;
        }

        for (int pcol = 0; pcol < k; pcol += DepthBlock)
        {
            int kc = Math.Min(DepthBlock, k - pcol);
            PackB(transB, b, ldb, pcol, firstColumn, kc, endColumn - firstColumn, destination + ((long)pcol * nPadded) + ((long)firstPanel * kc * nr), kc * nr);
        }
    }

    /// <summary>The work of a threaded <see cref="PackAll{T}"/>, reused per calling thread so a call allocates nothing.</summary>
    private sealed class PackJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static PackJob<T>? perThread;

        private Transpose _transB;
        private int _k, _n, _ldb, _panels;
        private T* _b, _destination;

        public static PackJob<T> ForThisThread() => perThread ??= new PackJob<T>();

        public void Set(Transpose transB, int k, int n, T* b, int ldb, T* destination, int panels)
        {
            (_transB, _k, _n, _ldb, _panels) = (transB, k, n, ldb, panels);
            _b = b;
            _destination = destination;
        }

        public void Run(int part, int parts) => PackPanels(
            _transB, _k, _n, _b, _ldb, _destination, (int)((long)_panels * part / parts), (int)((long)_panels * (part + 1) / parts));
    }

    /// <summary>Elements of the packed form of a k x n op(B).</summary>
    internal static int PackedLength<T>(int k, int n)
        where T : unmanaged
        => k * RoundUp(n, MicroColumns<T>());

    /// <summary>The work of one threaded call, reused per calling thread so a call allocates nothing.</summary>
    private sealed class GemmJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static GemmJob<T>? perThread;

        private Transpose _transA, _transB;
        private int _m, _n, _k, _lda, _ldb, _ldc;
        private T _alpha, _beta;
        private T* _a, _b, _c;
        private bool _splitColumns, _prepacked, _inPlaceA;

        // Packing buffers per part index, grown by the calling thread before dispatch: whichever thread runs a part
        // uses that part's buffers, so no worker ever allocates and no buffer is shared by two parts.
        private AlignedBuffer<T>[] _packedA = [], _packedB = [];

        public static GemmJob<T> ForThisThread() => perThread ??= new GemmJob<T>();

        public void Set(
            Transpose transA, Transpose transB, int m, int n, int k,
            T alpha, T* a, int lda, T* b, int ldb, T beta, T* c, int ldc, bool splitColumns, int parts, int aLength, int bLength, bool inPlaceA)
        {
            _inPlaceA = inPlaceA;
            AlignedBuffer<T>.Grow(ref _packedA, parts, aLength);
            AlignedBuffer<T>.Grow(ref _packedB, parts, bLength);
            (_transA, _transB, _m, _n, _k, _alpha, _lda, _ldb, _beta, _ldc) = (transA, transB, m, n, k, alpha, lda, ldb, beta, ldc);
            _a = a;
            _b = b;
            _c = c;
            _splitColumns = splitColumns;
            _prepacked = false;
        }

        public void SetPacked(int m, int n, int k, T alpha, T* a, int lda, T* packedB, T beta, T* c, int ldc)
        {
            (_m, _n, _k, _alpha, _lda, _beta, _ldc) = (m, n, k, alpha, lda, beta, ldc);
            _a = a;
            _b = packedB;
            _c = c;
            _prepacked = true;
        }

        public void Run(int part, int parts)
        {
            int nr = MicroColumns<T>();
            if (_prepacked)
            {
                int panels = (_n + nr - 1) / nr;
                int first = (int)((long)panels * part / parts), end = (int)((long)panels * (part + 1) / parts);
                PrepackedPart(_m, _n, _k, _alpha, _a, _lda, _b, _beta, _c, _ldc, first, end);
                return;
            }

            if (_splitColumns)
            {
                // Whole NR-wide panels per part, so only the last part has a partial panel.
                int panels = (_n + nr - 1) / nr;
                int j0 = (int)((long)panels * part / parts) * nr, j1 = Math.Min(_n, (int)((long)panels * (part + 1) / parts) * nr);
                if (j0 >= j1)
                {
                    return;
                }

                T* b = _transB == Transpose.No ? _b + j0 : _b + ((long)j0 * _ldb);
                Blocked(_transA, _transB, _m, j1 - j0, _k, _alpha, _a, _lda, b, _ldb, _beta, _c + j0, _ldc, _packedA[part].Pointer, _packedB[part].Pointer, _inPlaceA);
            }
            else
            {
                int tiles = (_m + MicroRows - 1) / MicroRows;
                int i0 = (int)((long)tiles * part / parts) * MicroRows, i1 = Math.Min(_m, (int)((long)tiles * (part + 1) / parts) * MicroRows);
                if (i0 >= i1)
                {
                    return;
                }

                T* a = _transA == Transpose.No ? _a + ((long)i0 * _lda) : _a + i0;
                Blocked(_transA, _transB, i1 - i0, _n, _k, _alpha, a, _lda, _b, _ldb, _beta, _c + ((long)i0 * _ldc), _ldc, _packedA[part].Pointer, _packedB[part].Pointer, _inPlaceA);
            }
        }
    }

    /// <summary>Columns of C per micro-tile (NR): two vectors, 256-bit (16 floats) or, for the wide kernels, 512-bit (32 floats).</summary>
    internal static int MicroColumns<T>()
        where T : unmanaged
        => Wide ? 2 * Vector512<T>.Count : 2 * Vector256<T>.Count;

    /// <summary>
    /// The five BLIS loops on the calling thread. Row tiles are six rows, except the last few rows of op(A)
    /// (see <see cref="TailRows"/>), which go through four-row tiles instead of a mostly empty six-row one.
    /// With at most one row block (m &lt;= MC, e.g. the 32 batch rows of a time step) A is packed once per
    /// k-block and B 256 columns at a time, right before their tiles use them: the packed group stays in L2
    /// instead of the whole KC x NC block (2 MB for n = 2048) being written out to L3 and read back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocked<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, T* a, int lda, T* b, int ldb, T beta, T* c, int ldc, T* packA, T* packB, bool inPlaceA)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = MicroColumns<T>();
        int mcMax = RowBlockBytes / sizeof(T) / MicroRows * MicroRows;
        int ncMax = ColumnBlockBytes / sizeof(T) / nr * nr;
        int kcMax = Math.Min(DepthBlock, k);
        int tail = TailRows(m);
        int tailStart = m - tail;

        if (m <= mcMax)
        {
            // With inPlaceA, the first rows (whole eight-row tiles) are read in place by the wide kernel and only the
            // rest is packed: a 32-row op(A) is four whole tiles rather than five six-row tiles and a four-row one.
            int inPlaceRows = inPlaceA ? m / WideRowMajorRows * WideRowMajorRows : 0;
            int rest = m - inPlaceRows;
            int restTail = inPlaceRows == 0 ? tail : TailRows(rest);
            T* packedRows = packA;
            int groupMax = ColumnGroupBytes / sizeof(T) / nr * nr;
            T* groupB = packB;
            for (int pcol = 0; pcol < k; pcol += kcMax)
            {
                int kc = Math.Min(kcMax, k - pcol);
                T betaBlock = pcol == 0 ? beta : T.One;
                if (rest > 0)
                {
                    PackRowBlock(transA, a, lda, inPlaceRows, pcol, rest, kc, restTail, packedRows);
                }

                for (int jg = 0; jg < n; jg += groupMax)
                {
                    int group = Math.Min(groupMax, n - jg);
                    PackB(transB, b, ldb, pcol, jg, kc, group, groupB, PanelStride<T>(kc));
                    for (int jr = 0; jr < group; jr += nr)
                    {
                        T* bPanel = groupB + ((long)(jr / nr) * PanelStride<T>(kc));
                        int cols = Math.Min(nr, group - jr);
                        for (int ir = 0; ir < inPlaceRows; ir += WideRowMajorRows)
                        {
                            MicroKernelRowMajorAWide(kc, a + ((long)ir * lda) + pcol, lda, bPanel, c + ((long)ir * ldc) + jg + jr, ldc, alpha, betaBlock, cols);
                        }

                        if (rest > 0)
                        {
                            RowTiles(kc, packedRows, bPanel, c + ((long)inPlaceRows * ldc) + jg + jr, ldc, alpha, betaBlock, rest, rest - restTail, cols);
                        }
                    }
                }
            }

            return;
        }

        T* packedA = packA;
        T* packedB = packB;

        for (int jc = 0; jc < n; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n - jc);
            for (int pcol = 0; pcol < k; pcol += kcMax)
            {
                int kc = Math.Min(kcMax, k - pcol);

                // The first k-block applies the caller's beta; later blocks accumulate onto it.
                T betaBlock = pcol == 0 ? beta : T.One;
                PackB(transB, b, ldb, pcol, jc, kc, nc, packedB, PanelStride<T>(kc));

                for (int ic = 0; ic < m; ic += mcMax)
                {
                    int mc = RowBlock(ic, m, mcMax, tailStart);
                    PackRowBlock(transA, a, lda, ic, pcol, mc, kc, ic + mc == m ? tail : 0, packedA);

                    // A transposed op(A) block is kc rows of a, mc values each, lda apart: the prefetcher misses them, and
                    // packing the next block waited on memory. Its lines are fetched a slice per panel of this one.
                    int nextIc = ic + mc < m ? ic + mc : 0, nextPcol = ic + mc < m ? pcol : pcol + kc;
                    bool prefetch = transA == Transpose.Yes && nextPcol < k && Sse.IsSupported;
                    int nextKc = Math.Min(kcMax, k - nextPcol), nextMc = Math.Min(mcMax, m - nextIc), slices = (nc + nr - 1) / nr;
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        if (prefetch)
                        {
                            int slice = jr / nr;
                            PrefetchRows(a + ((long)nextPcol * lda) + nextIc, lda, nextMc, nextKc * slice / slices, nextKc * (slice + 1) / slices);
                        }

                        int cols = Math.Min(nr, nc - jr);
                        RowTiles(kc, packedA, packedB + ((long)(jr / nr) * PanelStride<T>(kc)), c + ((long)ic * ldc) + jc + jr, ldc, alpha, betaBlock, mc, tailStart - ic, cols);
                    }

                    ic += mc - mcMax;
                }
            }
        }
    }

    /// <summary>
    /// Lengths of the packing buffers <see cref="Blocked{T}"/> needs for an m x n x k product: enough for either of its
    /// paths, and for any part of a split of the product (a part's m and n are at most the whole product's).
    /// </summary>
    private static void BufferLengths<T>(int m, int n, int k, out int aLength, out int bLength)
        where T : unmanaged
    {
        int nr = MicroColumns<T>();
        int mcMax = RowBlockBytes / sizeof(T) / MicroRows * MicroRows;
        int ncMax = ColumnBlockBytes / sizeof(T) / nr * nr;
        int kcMax = Math.Min(DepthBlock, k);

        // PackedRows(m, tail) <= RoundUp(m, 6) + 3 for a single row block, so both paths fit in (MC-or-m + 6) rows.
        aLength = ((Math.Min(mcMax, RoundUp(m, MicroRows)) + MicroRows) * kcMax) + nr;
        bLength = Math.Min(ncMax, RoundUp(n, nr)) / nr * PanelStride<T>(kcMax);
    }

    /// <summary>
    /// Rows at the end of an m-row op(A) that go through four-row tiles: m % 6 when that is 1 to 4 (one tile), or
    /// 6 + m % 6 when m % 6 is 1 or 2 and there is a full tile to borrow from (two four-row tiles: 7 or 8 rows cost
    /// 8 instead of 12). m % 6 = 5 stays a six-row tile. A function of m alone, so any split of the rows that keeps
    /// whole six-row tiles per part (and the tail in the last) computes every element with the same tile kind.
    /// </summary>
    internal static int TailRows(int m)
    {
        int r = m % MicroRows;
        return r is 1 or 2 && m >= MicroRows + r ? MicroRows + r : r == 5 ? 0 : r;
    }

    /// <summary>Prefetches into L2 the <paramref name="width"/> values at the start of rows [first, end) of a (lda apart).</summary>
    private static void PrefetchRows<T>(T* a, int lda, int width, int first, int end)
        where T : unmanaged
    {
        int line = 64 / sizeof(T);
        for (int p = first; p < end; p++)
        {
            T* row = a + ((long)p * lda);
            for (int j = 0; j < width; j += line)
            {
                Sse.Prefetch1(row + j);
            }
        }
    }

    /// <summary>Rows of packed A for m rows whose last <paramref name="tail"/> go to four-row tiles (zero-padded).</summary>
    private static int PackedRows(int m, int tail) => tail == 0 ? RoundUp(m, MicroRows) : m - tail + RoundUp(tail, 4);

    /// <summary>
    /// Rows of the row block starting at <paramref name="ic"/>: MC, or what is left, but never ending inside the
    /// tail of four-row tiles (that block stops six rows short, so the tail's tiles are the same in every split).
    /// </summary>
    private static int RowBlock(int ic, int m, int mcMax, int tailStart)
    {
        int mc = Math.Min(mcMax, m - ic);
        int end = ic + mc;
        return end > tailStart && end < m ? mc - MicroRows : mc;
    }

    /// <summary>Packs rows [ic, ic + mc) of op(A): six-row panels, then the four-row panels of its last <paramref name="tail"/> rows.</summary>
    private static void PackRowBlock<T>(Transpose transA, T* a, int lda, int ic, int pc, int mc, int kc, int tail, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int sixRows = mc - tail;
        PackA(transA, a, lda, ic, pc, sixRows, kc, dst);
        for (int r = sixRows; r < mc; r += 4)
        {
            PackFourRows(transA, a, lda, ic + r, pc, Math.Min(4, mc - r), kc, dst + ((long)r * kc));
        }
    }

    /// <summary>
    /// The micro-tiles of one packed row block times one B panel: six-row tiles up to <paramref name="tailStart"/>
    /// (relative to the block; at or past <paramref name="mc"/> when the block has no tail), four-row tiles after it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowTiles<T>(int kc, T* packedA, T* bPanel, T* c, int ldc, T alpha, T beta, int mc, int tailStart, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int sixEnd = Math.Min(mc, tailStart);
        int ir = 0;
        if (Wide)
        {
            for (; ir < sixEnd; ir += MicroRows)
            {
                MicroKernelWide(kc, packedA + ((long)ir * kc), bPanel, c + ((long)ir * ldc), ldc, alpha, beta, Math.Min(MicroRows, mc - ir), cols);
            }

            for (; ir < mc; ir += 4)
            {
                MicroKernelFourRowsWide(kc, packedA + ((long)ir * kc), bPanel, c + ((long)ir * ldc), ldc, alpha, beta, Math.Min(4, mc - ir), cols);
            }

            return;
        }

        for (; ir < sixEnd; ir += MicroRows)
        {
            MicroKernel(kc, packedA + ((long)ir * kc), bPanel, c + ((long)ir * ldc), ldc, alpha, beta, Math.Min(MicroRows, mc - ir), cols);
        }

        for (; ir < mc; ir += 4)
        {
            MicroKernelFourRows(kc, packedA + ((long)ir * kc), bPanel, c + ((long)ir * ldc), ldc, alpha, beta, Math.Min(4, mc - ir), cols);
        }
    }

    /// <summary>
    /// Elements from one packed B panel to the next in the blocked products: kc x NR plus one cache line. Unpadded,
    /// panels would lie 16 KB apart (kc = 256), so the row-by-row packing of B would store to as many lines of one
    /// L1 set as there are panels and evict its own writes.
    /// </summary>
    private static int PanelStride<T>(int kc)
        where T : unmanaged
        => (kc * MicroColumns<T>()) + (64 / sizeof(T));

    internal static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>
    /// Packs the mc x kc block of op(A) starting at (ic, pc) into panels of MR rows:
    /// panel r holds, for each p, the MR values op(A)[ic + r*MR + i, pc + p] contiguously; missing rows are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA<T>(Transpose transA, T* a, int lda, int ic, int pc, int mc, int kc, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int fullRows = mc / MicroRows * MicroRows;
        if (transA == Transpose.No)
        {
            for (int ir = 0; ir < fullRows; ir += MicroRows)
            {
                T* src = a + ((long)(ic + ir) * lda) + pc;
                T* panel = dst + ((long)ir * kc);
                int p0 = 0;
                if (typeof(T) == typeof(float) && Avx.IsSupported)
                {
                    p0 = PackRowsFloat((float*)src, lda, kc, (float*)panel);
                }

                // op(A)[i, p] = a[i * lda + p]: each row is contiguous in p; scatter it with stride MR.
                for (int i = 0; i < MicroRows; i++)
                {
                    T* row = src + ((long)i * lda);
                    for (int p = p0; p < kc; p++)
                    {
                        panel[(p * MicroRows) + i] = row[p];
                    }
                }
            }
        }
        else
        {
            // op(A)[i, p] = a[p * lda + i]: the MR values of one p are contiguous. Eight rows of a at a time (eight lines
            // lda apart stay in L1), dealt panel by panel, so each panel takes 48 contiguous values (three cache lines)
            // per visit: a whole row of a per pass wrote the 24 panels of a 144-row block a piece each, 6 KB apart on two
            // L1 set positions, and they evicted one another; a whole panel per pass strode through all kc rows. Where
            // the two floats past a panel's six are still in the block and in the panel, one 8-float load and store
            // copies them: the extra two land on step p + 1's slot, which the next copy writes.
            const int Group = 8;
            bool vector = typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated;
            for (int p0 = 0; p0 < kc; p0 += Group)
            {
                int p1 = Math.Min(kc, p0 + Group);
                for (int ir = 0; ir < fullRows; ir += MicroRows)
                {
                    T* d = dst + ((long)ir * kc);
                    T* src = a + ((long)pc * lda) + ic + ir;
                    bool wide = vector && ir + 8 <= mc;
                    for (int p = p0; p < p1; p++)
                    {
                        if (wide && p + 1 < kc)
                        {
                            Vector256.Store(Vector256.Load((float*)(src + ((long)p * lda))), (float*)(d + (p * MicroRows)));
                        }
                        else
                        {
                            Unsafe.CopyBlockUnaligned(d + (p * MicroRows), src + ((long)p * lda), (uint)(MicroRows * sizeof(T)));
                        }
                    }
                }
            }
        }

        if (fullRows < mc)
        {
            int rows = mc - fullRows;
            T* panel = dst + ((long)fullRows * kc);
            for (int p = 0; p < kc; p++)
            {
                T* d = panel + (p * MicroRows);
                for (int i = 0; i < rows; i++)
                {
                    d[i] = transA == Transpose.No ? a[((long)(ic + fullRows + i) * lda) + pc + p] : a[((long)(pc + p) * lda) + ic + fullRows + i];
                }

                for (int i = rows; i < MicroRows; i++)
                {
                    d[i] = T.Zero;
                }
            }
        }
    }

    /// <summary>
    /// Packs six float rows (stride lda) into an MR-interleaved panel, 8 steps of p at a time: the six rows plus two
    /// zero rows form an 8 x 8 block transposed in registers, and each transposed column stores its first six values
    /// (16 + 8 bytes). Returns how many of the kc steps it packed (a multiple of 8).
    /// </summary>
    private static int PackRowsFloat(float* src, int lda, int kc, float* panel)
    {
        int p = 0;
        Vector256<float> zero = Vector256<float>.Zero;
        for (; p + 8 <= kc; p += 8)
        {
            float* s = src + p;
            Vector256<float> r0 = Avx.LoadVector256(s);
            Vector256<float> r1 = Avx.LoadVector256(s + lda);
            Vector256<float> r2 = Avx.LoadVector256(s + (2L * lda));
            Vector256<float> r3 = Avx.LoadVector256(s + (3L * lda));
            Vector256<float> r4 = Avx.LoadVector256(s + (4L * lda));
            Vector256<float> r5 = Avx.LoadVector256(s + (5L * lda));

            // The same unpack / shuffle / lane swap as PackTransposedFloat, with rows 6 and 7 zero.
            Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
            Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
            Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
            Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
            Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
            Vector256<float> u4 = Avx.Shuffle(t4, zero, 0x44), u5 = Avx.Shuffle(t4, zero, 0xEE);
            Vector256<float> u6 = Avx.Shuffle(t5, zero, 0x44), u7 = Avx.Shuffle(t5, zero, 0xEE);

            float* d = panel + ((long)p * MicroRows);
            StoreSix(d, Avx.Permute2x128(u0, u4, 0x20));
            StoreSix(d + 6, Avx.Permute2x128(u1, u5, 0x20));
            StoreSix(d + 12, Avx.Permute2x128(u2, u6, 0x20));
            StoreSix(d + 18, Avx.Permute2x128(u3, u7, 0x20));
            StoreSix(d + 24, Avx.Permute2x128(u0, u4, 0x31));
            StoreSix(d + 30, Avx.Permute2x128(u1, u5, 0x31));
            StoreSix(d + 36, Avx.Permute2x128(u2, u6, 0x31));
            StoreSix(d + 42, Avx.Permute2x128(u3, u7, 0x31));
        }

        return p;
    }

    /// <summary>Stores the first six floats of <paramref name="v"/>: four as one 128-bit store, two as one 64-bit store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreSix(float* d, Vector256<float> v)
    {
        Vector128<float> high = v.GetUpper();
        Vector128.Store(v.GetLower(), d);
        Sse2.StoreScalar((double*)(d + 4), high.AsDouble());
    }

    /// <summary>Packs up to four rows of op(A) from (ic, pc) as one four-row panel: for each p, four values contiguous, missing rows zero.</summary>
    private static void PackFourRows<T>(Transpose transA, T* a, int lda, int ic, int pc, int rows, int kc, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int p = 0; p < kc; p++)
        {
            T* d = dst + (p * 4);
            for (int i = 0; i < rows; i++)
            {
                d[i] = transA == Transpose.No ? a[((long)(ic + i) * lda) + pc + p] : a[((long)(pc + p) * lda) + ic + i];
            }

            for (int i = rows; i < 4; i++)
            {
                d[i] = T.Zero;
            }
        }
    }

    /// <summary>
    /// Packs the kc x nc block of op(B) starting at (pc, jc) into panels of NR columns:
    /// panel s holds, for each p, the NR values op(B)[pc + p, jc + s*NR + j] contiguously; missing columns are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB<T>(Transpose transB, T* b, int ldb, int pc, int jc, int kc, int nc, T* dst, int panelStride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = MicroColumns<T>();
        int width = Vector256<T>.Count;
        if (transB == Transpose.No)
        {
            // op(B)[p, j] = b[p * ldb + j]. Walk each row of b once, left to right, dealing 2-vector pieces
            // to the panels: reading a panel at a time would stride by ldb and thrash the cache sets and TLB.
            int fullColumns = nc / nr * nr;
            for (int p = 0; p < kc; p++)
            {
                T* s = b + ((long)(pc + p) * ldb) + jc;
                T* d = dst + (p * nr);
                for (int jr = 0; jr < fullColumns; jr += nr)
                {
                    T* panelRow = d + ((long)(jr / nr) * panelStride);
                    for (int v = 0; v < nr; v += width)
                    {
                        Vector256.Store(Vector256.Load(s + jr + v), panelRow + v);
                    }
                }

                if (fullColumns < nc)
                {
                    T* edge = d + ((long)(fullColumns / nr) * panelStride);
                    int j = 0;
                    for (; j < nc - fullColumns; j++)
                    {
                        edge[j] = s[fullColumns + j];
                    }

                    for (; j < nr; j++)
                    {
                        edge[j] = T.Zero;
                    }
                }
            }

            return;
        }

        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            T* panel = dst + ((long)(jr / nr) * panelStride);

            // op(B)[p, j] = b[j * ldb + p]: each column of op(B) is a contiguous row of b.
            int p0 = 0;
            if (typeof(T) == typeof(float) && Avx.IsSupported && cols == nr)
            {
                // Sixteen columns at a time (one or two groups per panel), each written at its offset in the panel rows.
                for (int group = 0; group < nr; group += 16)
                {
                    p0 = PackTransposedFloat((float*)b + ((long)(jc + jr + group) * ldb) + pc, ldb, kc, (float*)panel + group, nr);
                }
            }

            for (int j = 0; j < cols; j++)
            {
                T* s = b + ((long)(jc + jr + j) * ldb) + pc;
                for (int p = p0; p < kc; p++)
                {
                    panel[(p * nr) + j] = s[p];
                }
            }

            for (int j = cols; j < nr; j++)
            {
                for (int p = 0; p < kc; p++)
                {
                    panel[(p * nr) + j] = T.Zero;
                }
            }
        }
    }

    /// <summary>
    /// Packs 16 columns of a float panel of op(B) = b^T (panel rows <paramref name="panelWidth"/> floats apart) in 8 x 8
    /// blocks transposed in registers (unpack, shuffle, then swap 128-bit lanes). Returns how many of the kc steps it
    /// packed (a multiple of 8).
    /// </summary>
    private static int PackTransposedFloat(float* src, int ldb, int kc, float* panel, int panelWidth)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            for (int half = 0; half < 2; half++)
            {
                float* s = src + ((long)half * 8 * ldb) + p;
                Vector256<float> r0 = Avx.LoadVector256(s);
                Vector256<float> r1 = Avx.LoadVector256(s + ldb);
                Vector256<float> r2 = Avx.LoadVector256(s + (2L * ldb));
                Vector256<float> r3 = Avx.LoadVector256(s + (3L * ldb));
                Vector256<float> r4 = Avx.LoadVector256(s + (4L * ldb));
                Vector256<float> r5 = Avx.LoadVector256(s + (5L * ldb));
                Vector256<float> r6 = Avx.LoadVector256(s + (6L * ldb));
                Vector256<float> r7 = Avx.LoadVector256(s + (7L * ldb));

                // Pairs of rows interleaved: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ...
                Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
                Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
                Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
                Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

                // Groups of four rows: u0 = r0..r3 at p+0 | at p+4, u1 at p+1 | p+5, ...
                Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
                Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
                Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
                Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);

                float* d = panel + ((long)p * panelWidth) + (half * 8);
                Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(d + panelWidth, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(d + (2 * panelWidth), Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(d + (3 * panelWidth), Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(d + (4 * panelWidth), Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(d + (5 * panelWidth), Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(d + (6 * panelWidth), Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(d + (7 * panelWidth), Avx.Permute2x128(u3, u7, 0x31));
            }
        }

        return p;
    }

    /// <summary>
    /// C[0..rows, 0..cols] = alpha * (A panel x B panel) + beta * C, where the panels are MR x kc and kc x NR.
    /// The full MR x NR product is always computed (padding is zero); only rows x cols of C is touched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector256<T>.Count;
        int nr = 2 * width;
        PrefetchTile(c, ldc, rows);
        Vector256<T> c00 = Vector256<T>.Zero, c01 = Vector256<T>.Zero;
        Vector256<T> c10 = Vector256<T>.Zero, c11 = Vector256<T>.Zero;
        Vector256<T> c20 = Vector256<T>.Zero, c21 = Vector256<T>.Zero;
        Vector256<T> c30 = Vector256<T>.Zero, c31 = Vector256<T>.Zero;
        Vector256<T> c40 = Vector256<T>.Zero, c41 = Vector256<T>.Zero;
        Vector256<T> c50 = Vector256<T>.Zero, c51 = Vector256<T>.Zero;

        // Unrolled by four steps of k: fewer loop-control uops per FMA keeps the front end ahead of the two FMA ports.
        Vector256<T> b0, b1, ai;
        int p = 0;
        for (; p + 4 <= kc; p += 4)
        {
            b0 = Vector256.Load(b);
            b1 = Vector256.Load(b + width);
            ai = Vector256.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]);
            c40 = MultiplyAdd(ai, b0, c40);
            c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]);
            c50 = MultiplyAdd(ai, b0, c50);
            c51 = MultiplyAdd(ai, b1, c51);
            b0 = Vector256.Load(b + nr);
            b1 = Vector256.Load(b + nr + width);
            ai = Vector256.Create(a[6]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[7]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[8]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[9]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[10]);
            c40 = MultiplyAdd(ai, b0, c40);
            c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[11]);
            c50 = MultiplyAdd(ai, b0, c50);
            c51 = MultiplyAdd(ai, b1, c51);
            b0 = Vector256.Load(b + (2 * nr));
            b1 = Vector256.Load(b + (2 * nr) + width);
            ai = Vector256.Create(a[12]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[13]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[14]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[15]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[16]);
            c40 = MultiplyAdd(ai, b0, c40);
            c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[17]);
            c50 = MultiplyAdd(ai, b0, c50);
            c51 = MultiplyAdd(ai, b1, c51);
            b0 = Vector256.Load(b + (3 * nr));
            b1 = Vector256.Load(b + (3 * nr) + width);
            ai = Vector256.Create(a[18]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[19]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[20]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[21]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[22]);
            c40 = MultiplyAdd(ai, b0, c40);
            c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[23]);
            c50 = MultiplyAdd(ai, b0, c50);
            c51 = MultiplyAdd(ai, b1, c51);
            a += 4 * MicroRows;
            b += 4 * nr;
        }

        for (; p < kc; p++)
        {
            b0 = Vector256.Load(b);
            b1 = Vector256.Load(b + width);
            ai = Vector256.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]);
            c40 = MultiplyAdd(ai, b0, c40);
            c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]);
            c50 = MultiplyAdd(ai, b0, c50);
            c51 = MultiplyAdd(ai, b1, c51);
            a += MicroRows;
            b += nr;
        }

        StoreTile(c, ldc, alpha, beta, rows, cols, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>
    /// The 4 x NR micro-kernel for the last rows of op(A) (see <see cref="TailRows"/>): eight accumulators, the same
    /// fused multiply-adds in the same order of k as <see cref="MicroKernel{T}"/>, so an element's value does not
    /// depend on the tile kind. The A panel holds four values per step of k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelFourRows<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector256<T>.Count;
        int nr = 2 * width;
        PrefetchTile(c, ldc, rows);
        Vector256<T> c00 = Vector256<T>.Zero, c01 = Vector256<T>.Zero;
        Vector256<T> c10 = Vector256<T>.Zero, c11 = Vector256<T>.Zero;
        Vector256<T> c20 = Vector256<T>.Zero, c21 = Vector256<T>.Zero;
        Vector256<T> c30 = Vector256<T>.Zero, c31 = Vector256<T>.Zero;
        Vector256<T> b0, b1, ai;
        int p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            b0 = Vector256.Load(b);
            b1 = Vector256.Load(b + width);
            ai = Vector256.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            b0 = Vector256.Load(b + nr);
            b1 = Vector256.Load(b + nr + width);
            ai = Vector256.Create(a[4]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[5]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[6]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[7]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            a += 8;
            b += 2 * nr;
        }

        for (; p < kc; p++)
        {
            b0 = Vector256.Load(b);
            b1 = Vector256.Load(b + width);
            ai = Vector256.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            a += 4;
            b += nr;
        }

        if (rows == 4 && cols == nr)
        {
            Vector256<T> alphaV = Vector256.Create(alpha);
            StoreRow(c, width, c00, c01, alphaV, beta);
            StoreRow(c + ldc, width, c10, c11, alphaV, beta);
            StoreRow(c + (2 * (long)ldc), width, c20, c21, alphaV, beta);
            StoreRow(c + (3 * (long)ldc), width, c30, c31, alphaV, beta);
            return;
        }

        Vector256<T> zero = Vector256<T>.Zero;
        StoreEdge(c, ldc, alpha, beta, rows, cols, c00, c01, c10, c11, c20, c21, c30, c31, zero, zero, zero, zero);
    }

    /// <summary>
    /// The micro-kernel for an A read in place from row-major storage (op(A) = A, lda): the six rows of the
    /// tile are broadcast straight from memory, so the small per-step products (batch rows) skip packing A,
    /// which for H = 128 cost a third as much as the multiply itself. Always six rows; B is a packed panel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelRowMajorA<T>(int kc, T* a, int lda, T* b, T* c, int ldc, T alpha, T beta, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector256<T>.Count;
        int nr = 2 * width;
        Vector256<T> c00 = Vector256<T>.Zero, c01 = Vector256<T>.Zero;
        Vector256<T> c10 = Vector256<T>.Zero, c11 = Vector256<T>.Zero;
        Vector256<T> c20 = Vector256<T>.Zero, c21 = Vector256<T>.Zero;
        Vector256<T> c30 = Vector256<T>.Zero, c31 = Vector256<T>.Zero;
        Vector256<T> c40 = Vector256<T>.Zero, c41 = Vector256<T>.Zero;
        Vector256<T> c50 = Vector256<T>.Zero, c51 = Vector256<T>.Zero;

        // Two base pointers (rows 0 and 3) plus the offsets lda and 2*lda address all six rows with
        // base + index addressing, so only two pointers advance per step of k.
        T* top = a;
        T* bottom = a + (3L * lda);
        nint one = lda, two = 2 * (nint)lda;
        for (int p = 0; p < kc; p++)
        {
            Vector256<T> b0 = Vector256.Load(b);
            Vector256<T> b1 = Vector256.Load(b + width);
            Vector256<T> ai = Vector256.Create(top[0]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(top[one]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(top[two]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(bottom[0]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(bottom[one]);
            c40 = MultiplyAdd(ai, b0, c40);
            c41 = MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(bottom[two]);
            c50 = MultiplyAdd(ai, b0, c50);
            c51 = MultiplyAdd(ai, b1, c51);
            top++;
            bottom++;
            b += nr;
        }

        StoreTile(c, ldc, alpha, beta, MicroRows, cols, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>Whether the micro-kernels run in 512-bit vectors (<see cref="GemmVariant.Vector512"/>), on panels of 32 floats.</summary>
    private static bool Wide => Gemm.Variant == GemmVariant.Vector512;

    /// <summary>Rows of a row-major A that <see cref="PrepackedPart{T}"/> reads in place per tile under the current variant.</summary>
    internal static int InPlaceRowTile => Wide ? WideRowMajorRows : MicroRows;

    /// <summary>
    /// The 6 x NR micro-kernel in 512-bit vectors: NR = 32 floats (16 doubles), two registers per row of the tile, twelve
    /// accumulators. Per step of k: two B loads and six broadcasts of A (folded into the FMAs) for twelve FMAs, so the
    /// loop is bound by the two FMA pipes, not by loads (a 6 x 16 tile of one register per row needs a load per FMA and
    /// ran 15% slower with its data in L1). Every wide kernel sums an element over k in order, like the 256-bit ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelWide<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, nr = 2 * w;
        PrefetchTile(c, ldc, rows);
        Vector512<T> c00 = Vector512<T>.Zero, c01 = Vector512<T>.Zero, c10 = Vector512<T>.Zero, c11 = Vector512<T>.Zero;
        Vector512<T> c20 = Vector512<T>.Zero, c21 = Vector512<T>.Zero, c30 = Vector512<T>.Zero, c31 = Vector512<T>.Zero;
        Vector512<T> c40 = Vector512<T>.Zero, c41 = Vector512<T>.Zero, c50 = Vector512<T>.Zero, c51 = Vector512<T>.Zero;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w);
            Vector512<T> x = Vector512.Create(a[0]);
            c00 = MultiplyAdd(x, b0, c00);
            c01 = MultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = MultiplyAdd(x, b0, c10);
            c11 = MultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = MultiplyAdd(x, b0, c20);
            c21 = MultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = MultiplyAdd(x, b0, c30);
            c31 = MultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = MultiplyAdd(x, b0, c40);
            c41 = MultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = MultiplyAdd(x, b0, c50);
            c51 = MultiplyAdd(x, b1, c51);
            a += MicroRows;
            b += nr;
        }

        if (rows == MicroRows && cols == nr)
        {
            Vector512<T> alphaV = Vector512.Create(alpha);
            StoreRowWide(c, c00, c01, alphaV, beta);
            StoreRowWide(c + ldc, c10, c11, alphaV, beta);
            StoreRowWide(c + (2 * (long)ldc), c20, c21, alphaV, beta);
            StoreRowWide(c + (3 * (long)ldc), c30, c31, alphaV, beta);
            StoreRowWide(c + (4 * (long)ldc), c40, c41, alphaV, beta);
            StoreRowWide(c + (5 * (long)ldc), c50, c51, alphaV, beta);
            return;
        }

        T* tile = stackalloc T[MicroRows * 2 * Vector512<float>.Count];
        StoreTilePair(tile, nr, 0, c00, c01, c10, c11);
        StoreTilePair(tile, nr, 2, c20, c21, c30, c31);
        StoreTilePair(tile, nr, 4, c40, c41, c50, c51);
        StoreEdgeFromTile(c, ldc, alpha, beta, rows, cols, tile, nr);
    }

    /// <summary>The 4 x NR tail kernel of <see cref="MicroKernelFourRows{T}"/> in 512-bit vectors (eight accumulators, k in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelFourRowsWide<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, nr = 2 * w;
        PrefetchTile(c, ldc, rows);
        Vector512<T> c00 = Vector512<T>.Zero, c01 = Vector512<T>.Zero, c10 = Vector512<T>.Zero, c11 = Vector512<T>.Zero;
        Vector512<T> c20 = Vector512<T>.Zero, c21 = Vector512<T>.Zero, c30 = Vector512<T>.Zero, c31 = Vector512<T>.Zero;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w);
            Vector512<T> x = Vector512.Create(a[0]);
            c00 = MultiplyAdd(x, b0, c00);
            c01 = MultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = MultiplyAdd(x, b0, c10);
            c11 = MultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = MultiplyAdd(x, b0, c20);
            c21 = MultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = MultiplyAdd(x, b0, c30);
            c31 = MultiplyAdd(x, b1, c31);
            a += 4;
            b += nr;
        }

        if (rows == 4 && cols == nr)
        {
            Vector512<T> alphaV = Vector512.Create(alpha);
            StoreRowWide(c, c00, c01, alphaV, beta);
            StoreRowWide(c + ldc, c10, c11, alphaV, beta);
            StoreRowWide(c + (2 * (long)ldc), c20, c21, alphaV, beta);
            StoreRowWide(c + (3 * (long)ldc), c30, c31, alphaV, beta);
            return;
        }

        T* tile = stackalloc T[4 * 2 * Vector512<float>.Count];
        StoreTilePair(tile, nr, 0, c00, c01, c10, c11);
        StoreTilePair(tile, nr, 2, c20, c21, c30, c31);
        StoreEdgeFromTile(c, ldc, alpha, beta, rows, cols, tile, nr);
    }

    /// <summary>Rows of the wide kernel that reads A in place (<see cref="MicroKernelRowMajorAWide{T}"/>).</summary>
    private const int WideRowMajorRows = 8;

    /// <summary>
    /// <see cref="MicroKernelRowMajorA{T}"/> (A read in place) in 512-bit vectors, eight rows of NR = 32 floats per tile:
    /// sixteen accumulators and two B registers of the 32; a batch of 32 rows is four whole tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernelRowMajorAWide<T>(int kc, T* a, int lda, T* b, T* c, int ldc, T alpha, T beta, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count, nr = 2 * w;
        Vector512<T> c00 = Vector512<T>.Zero, c01 = Vector512<T>.Zero, c10 = Vector512<T>.Zero, c11 = Vector512<T>.Zero;
        Vector512<T> c20 = Vector512<T>.Zero, c21 = Vector512<T>.Zero, c30 = Vector512<T>.Zero, c31 = Vector512<T>.Zero;
        Vector512<T> c40 = Vector512<T>.Zero, c41 = Vector512<T>.Zero, c50 = Vector512<T>.Zero, c51 = Vector512<T>.Zero;
        Vector512<T> c60 = Vector512<T>.Zero, c61 = Vector512<T>.Zero, c70 = Vector512<T>.Zero, c71 = Vector512<T>.Zero;

        // Rows 0-3 from top and 4-7 from bottom with the offsets lda, 2 lda, 3 lda: base + index addressing, two pointers.
        T* top = a;
        T* bottom = a + (4L * lda);
        nint one = lda, two = 2 * (nint)lda, three = 3 * (nint)lda;
        for (int p = 0; p < kc; p++)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w);
            Vector512<T> x = Vector512.Create(top[0]);
            c00 = MultiplyAdd(x, b0, c00);
            c01 = MultiplyAdd(x, b1, c01);
            x = Vector512.Create(top[one]);
            c10 = MultiplyAdd(x, b0, c10);
            c11 = MultiplyAdd(x, b1, c11);
            x = Vector512.Create(top[two]);
            c20 = MultiplyAdd(x, b0, c20);
            c21 = MultiplyAdd(x, b1, c21);
            x = Vector512.Create(top[three]);
            c30 = MultiplyAdd(x, b0, c30);
            c31 = MultiplyAdd(x, b1, c31);
            x = Vector512.Create(bottom[0]);
            c40 = MultiplyAdd(x, b0, c40);
            c41 = MultiplyAdd(x, b1, c41);
            x = Vector512.Create(bottom[one]);
            c50 = MultiplyAdd(x, b0, c50);
            c51 = MultiplyAdd(x, b1, c51);
            x = Vector512.Create(bottom[two]);
            c60 = MultiplyAdd(x, b0, c60);
            c61 = MultiplyAdd(x, b1, c61);
            x = Vector512.Create(bottom[three]);
            c70 = MultiplyAdd(x, b0, c70);
            c71 = MultiplyAdd(x, b1, c71);
            top++;
            bottom++;
            b += nr;
        }

        if (cols == nr)
        {
            Vector512<T> alphaV = Vector512.Create(alpha);
            StoreRowWide(c, c00, c01, alphaV, beta);
            StoreRowWide(c + ldc, c10, c11, alphaV, beta);
            StoreRowWide(c + (2 * (long)ldc), c20, c21, alphaV, beta);
            StoreRowWide(c + (3 * (long)ldc), c30, c31, alphaV, beta);
            StoreRowWide(c + (4 * (long)ldc), c40, c41, alphaV, beta);
            StoreRowWide(c + (5 * (long)ldc), c50, c51, alphaV, beta);
            StoreRowWide(c + (6 * (long)ldc), c60, c61, alphaV, beta);
            StoreRowWide(c + (7 * (long)ldc), c70, c71, alphaV, beta);
            return;
        }

        T* tile = stackalloc T[WideRowMajorRows * 2 * Vector512<float>.Count];
        StoreTilePair(tile, nr, 0, c00, c01, c10, c11);
        StoreTilePair(tile, nr, 2, c20, c21, c30, c31);
        StoreTilePair(tile, nr, 4, c40, c41, c50, c51);
        StoreTilePair(tile, nr, 6, c60, c61, c70, c71);
        StoreEdgeFromTile(c, ldc, alpha, beta, WideRowMajorRows, cols, tile, nr);
    }

    /// <summary>One full row of a wide tile: C row = alpha * (acc0 | acc1) + beta * C row (beta = 0 does not read C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRowWide<T>(T* c, Vector512<T> acc0, Vector512<T> acc1, Vector512<T> alphaV, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count;
        if (beta == T.Zero)
        {
            Vector512.Store(acc0 * alphaV, c);
            Vector512.Store(acc1 * alphaV, c + w);
        }
        else if (beta == T.One)
        {
            Vector512.Store(MultiplyAdd(acc0, alphaV, Vector512.Load(c)), c);
            Vector512.Store(MultiplyAdd(acc1, alphaV, Vector512.Load(c + w)), c + w);
        }
        else
        {
            Vector512<T> betaV = Vector512.Create(beta);
            Vector512.Store(MultiplyAdd(acc0, alphaV, Vector512.Load(c) * betaV), c);
            Vector512.Store(MultiplyAdd(acc1, alphaV, Vector512.Load(c + w) * betaV), c + w);
        }
    }

    /// <summary>Rows <paramref name="row"/> and <paramref name="row"/> + 1 of a wide tile into a scratch tile of rows <paramref name="nr"/> apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTilePair<T>(T* tile, int nr, int row, Vector512<T> r00, Vector512<T> r01, Vector512<T> r10, Vector512<T> r11)
        where T : unmanaged
    {
        int w = Vector512<T>.Count;
        T* t = tile + (row * nr);
        Vector512.Store(r00, t);
        Vector512.Store(r01, t + w);
        Vector512.Store(r10, t + nr);
        Vector512.Store(r11, t + nr + w);
    }

    /// <summary>Writes the rows x cols corner of a partial wide tile from its scratch copy, with the scalar rule of <see cref="StoreEdge{T}"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StoreEdgeFromTile<T>(T* c, int ldc, T alpha, T beta, int rows, int cols, T* tile, int nr)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < rows; i++)
        {
            T* cRow = c + ((long)i * ldc);
            T* tRow = tile + (i * nr);
            for (int j = 0; j < cols; j++)
            {
                // beta = 0 overwrites: C may hold NaN and must not leak through 0 * NaN.
                cRow[j] = beta == T.Zero ? alpha * tRow[j] : (alpha * tRow[j]) + (beta * cRow[j]);
            }
        }
    }

    /// <summary>x * y + z in 512-bit lanes: fused with AVX-512F (the only way the wide variant is chosen), else a multiply and an add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> MultiplyAdd<T>(Vector512<T> x, Vector512<T> y, Vector512<T> z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Avx512F.IsSupported)
        {
            if (typeof(T) == typeof(float))
            {
                return Avx512F.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
            }

            if (typeof(T) == typeof(double))
            {
                return Avx512F.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
            }
        }

        return (x * y) + z;
    }

    /// <summary>
    /// Asks for the C tile's lines (each row of NR floats may straddle two) before the k loop, so the loads of the
    /// epilogue find them in L1: C is large and its rows are ldc apart (4 KB for ldc = 1024), so they would otherwise
    /// miss one after another at the end of every tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile<T>(T* c, int ldc, int rows)
        where T : unmanaged
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        int last = MicroColumns<T>() - 1;
        for (int i = 0; i < rows; i++)
        {
            T* row = c + ((long)i * ldc);
            Sse.Prefetch0(row);
            Sse.Prefetch0(row + last);
        }
    }

    /// <summary>C tile = alpha * accumulators + beta * C tile: whole rows with vector stores, a partial tile through <see cref="StoreEdge{T}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTile<T>(
        T* c, int ldc, T alpha, T beta, int rows, int cols,
        Vector256<T> c00, Vector256<T> c01, Vector256<T> c10, Vector256<T> c11, Vector256<T> c20, Vector256<T> c21,
        Vector256<T> c30, Vector256<T> c31, Vector256<T> c40, Vector256<T> c41, Vector256<T> c50, Vector256<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector256<T>.Count;
        if (rows == MicroRows && cols == 2 * width)
        {
            Vector256<T> alphaV = Vector256.Create(alpha);
            StoreRow(c, width, c00, c01, alphaV, beta);
            StoreRow(c + ldc, width, c10, c11, alphaV, beta);
            StoreRow(c + (2 * (long)ldc), width, c20, c21, alphaV, beta);
            StoreRow(c + (3 * (long)ldc), width, c30, c31, alphaV, beta);
            StoreRow(c + (4 * (long)ldc), width, c40, c41, alphaV, beta);
            StoreRow(c + (5 * (long)ldc), width, c50, c51, alphaV, beta);
            return;
        }

        StoreEdge(c, ldc, alpha, beta, rows, cols, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
    }

    /// <summary>Writes the rows x cols corner of a partial tile; kept out of line so the stack tile costs full tiles nothing.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StoreEdge<T>(
        T* c, int ldc, T alpha, T beta, int rows, int cols,
        Vector256<T> c00, Vector256<T> c01, Vector256<T> c10, Vector256<T> c11, Vector256<T> c20, Vector256<T> c21,
        Vector256<T> c30, Vector256<T> c31, Vector256<T> c40, Vector256<T> c41, Vector256<T> c50, Vector256<T> c51)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector256<T>.Count;
        int nr = 2 * width;
        T* tile = stackalloc T[MicroRows * 2 * Vector256<float>.Count];
        Vector256.Store(c00, tile);
        Vector256.Store(c01, tile + width);
        Vector256.Store(c10, tile + nr);
        Vector256.Store(c11, tile + nr + width);
        Vector256.Store(c20, tile + (2 * nr));
        Vector256.Store(c21, tile + (2 * nr) + width);
        Vector256.Store(c30, tile + (3 * nr));
        Vector256.Store(c31, tile + (3 * nr) + width);
        Vector256.Store(c40, tile + (4 * nr));
        Vector256.Store(c41, tile + (4 * nr) + width);
        Vector256.Store(c50, tile + (5 * nr));
        Vector256.Store(c51, tile + (5 * nr) + width);
        for (int i = 0; i < rows; i++)
        {
            T* cRow = c + ((long)i * ldc);
            T* tRow = tile + (i * nr);
            for (int j = 0; j < cols; j++)
            {
                // beta = 0 overwrites: C may hold NaN and must not leak through 0 * NaN.
                cRow[j] = beta == T.Zero ? alpha * tRow[j] : (alpha * tRow[j]) + (beta * cRow[j]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T>(T* c, int width, Vector256<T> acc0, Vector256<T> acc1, Vector256<T> alphaV, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (beta == T.Zero)
        {
            Vector256.Store(acc0 * alphaV, c);
            Vector256.Store(acc1 * alphaV, c + width);
        }
        else if (beta == T.One)
        {
            Vector256.Store(MultiplyAdd(acc0, alphaV, Vector256.Load(c)), c);
            Vector256.Store(MultiplyAdd(acc1, alphaV, Vector256.Load(c + width)), c + width);
        }
        else
        {
            Vector256<T> betaV = Vector256.Create(beta);
            Vector256.Store(MultiplyAdd(acc0, alphaV, Vector256.Load(c) * betaV), c);
            Vector256.Store(MultiplyAdd(acc1, alphaV, Vector256.Load(c + width) * betaV), c + width);
        }
    }

    /// <summary>x * y + z, fused when the CPU has FMA (the JIT removes the type tests per instantiation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<T> MultiplyAdd<T>(Vector256<T> x, Vector256<T> y, Vector256<T> z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Fma.IsSupported)
        {
            if (typeof(T) == typeof(float))
            {
                return Fma.MultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
            }

            if (typeof(T) == typeof(double))
            {
                return Fma.MultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
            }
        }

        return (x * y) + z;
    }

    /// <summary>C = beta * C over m x n; beta = 0 writes zeros without reading C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ScaleC<T>(int m, int n, T beta, T* c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (beta == T.One)
        {
            return;
        }

        for (int i = 0; i < m; i++)
        {
            T* row = c + ((long)i * ldc);
            if (beta == T.Zero)
            {
                new Span<T>(row, n).Clear();
            }
            else
            {
                for (int j = 0; j < n; j++)
                {
                    row[j] *= beta;
                }
            }
        }
    }

    /// <summary>A pinned array and the first 64-byte-aligned address in it.</summary>
    private sealed class AlignedBuffer<TValue>
        where TValue : unmanaged
    {
        private readonly TValue[] _array;

        private AlignedBuffer(int length)
        {
            _array = GC.AllocateUninitializedArray<TValue>(length + (64 / sizeof(TValue)), pinned: true);

            // The array lives on the pinned object heap, so its address is stable for its lifetime.
            nuint address = (nuint)Unsafe.AsPointer(ref _array[0]);
            Pointer = (TValue*)((address + 63) & ~(nuint)63);
            Length = length;
        }

        public TValue* Pointer { get; }

        public int Length { get; }

        /// <summary>Makes <paramref name="buffers"/> hold at least <paramref name="count"/> buffers of at least <paramref name="length"/> values.</summary>
        public static void Grow(ref AlignedBuffer<TValue>[] buffers, int count, int length)
        {
            if (buffers.Length < count)
            {
                Array.Resize(ref buffers, count);
            }

            for (int i = 0; i < count; i++)
            {
                if (buffers[i] is null || buffers[i].Length < length)
                {
                    buffers[i] = new AlignedBuffer<TValue>(length);
                }
            }
        }
    }

    /// <summary>
    /// Per-thread packing buffers, pinned and aligned to 64 bytes, grown on demand and reused so a
    /// GEMM call allocates nothing in the steady state.
    /// </summary>
    private static class PackBuffers<T>
        where T : unmanaged
    {
        [ThreadStatic]
        private static T[]? packedA;

        [ThreadStatic]
        private static T[]? packedB;

        public static T* A(int length) => Aligned(ref packedA, length);

        public static T* B(int length) => Aligned(ref packedB, length);

        private static T* Aligned(ref T[]? buffer, int length)
        {
            int slack = 64 / sizeof(T);
            if (buffer is null || buffer.Length < length + slack)
            {
                buffer = GC.AllocateUninitializedArray<T>(length + slack, pinned: true);
            }

            // The array lives on the pinned object heap, so its address is stable for the thread's lifetime.
            nuint address = (nuint)Unsafe.AsPointer(ref buffer[0]);
            nuint aligned = (address + 63) & ~(nuint)63;
            return (T*)aligned;
        }
    }
}
