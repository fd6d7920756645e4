using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SimilarFaces.Engine.Backends.Cpu;

// C (m,n) = alpha · op(A) (m,k) · op(B) (k,n) + beta · C, blocked as in BLIS:
//   for each NC-wide column block of C, for each KC-deep slice of k:
//     pack op(B) (KC × NC) into NR-wide panels (lives in L3) — unless B is stored (k, n), a packed panel would not
//     stay in L1 anyway (kc · NR floats of InPlacePanelBytes or more) and its rows spread over the sets of L2: then
//     the micro-kernel reads full panels in place, their rows n floats apart, and the first tile of each panel asks
//     for the panel two ahead, row by row, which the hardware's prefetch does not follow (for a wide layer,
//     n = 80000, the rows lie 320,000 bytes apart); only a last partial panel is packed,
//     for each MC-tall row block: pack op(A) (MC × KC) into MR-tall panels (lives in L2) — unless A is stored
//     (m, k): then the micro-kernel reads MR of its rows in place, and only a last partial panel is packed —
//       for every MR × NR tile (MR 12 or 6 rows, NR two vectors): a register-blocked micro-kernel runs the KC
//       rank-1 updates (B panel in L1 or L2); a bottom edge of 8, 4 or 2 rows, a kernel of that height (the seed's
//       m = 128, 500 and 80000 leave 8 rows with MR = 12, 2 with MR = 6).
// Each element of C is a fixed sequence of FMAs over k in order, whatever the tile or thread that computes it,
// so splitting C between threads cannot change a bit. When C is small and k long (the forward pass of a wide
// Linear) k is cut into parts whose count depends on the shape only; the parts are added in order. A few rows of
// A times Bᵀ (a Linear's forward on one image or a pair) take dot products instead (DotRowsGemm), whose order of
// additions is fixed by the shape and the vector width.
internal sealed unsafe partial class CpuBackend
{
    // KC and NC measured on the seed's three Linear(80000,500) GEMMs against 256 and 4096: a deeper slice writes each
    // tile of C fewer times (the input gradient's k = 500 in one slice: C written once, never read back) and halves
    // the forward's passes over its k parts' C; the narrower block keeps the deeper packed B near 6 MB.
    private const int KC = 768;    // depth of a packed slice
    private const int MC = 144;    // rows of a packed A block (a multiple of MR, 6 or 12: TileRows)
    private const int NC = 2048;   // columns of a packed B block (a multiple of NR)
    private const int MaxKParts = 16;
    private const int PartDepth = 1024;  // the least depth of a k part
    // Packing B stored (k, n) reads kc rows n floats apart, each nc wide; asking for the row PackAhead below keeps
    // more lines in flight than the hardware's prefetch does (the seed's dense input gradient, 0.92× the time when it
    // still packed the 80000×500 weights; the weight gradient's x packs here with AVX2).
    private const int PackAhead = 8;
    private const int DotRows = 4;  // A · Bᵀ with at most this many rows runs as dot products
    // A B panel read in place crowds its rows, n floats apart, into a few sets of L1; a packed one stays in L1 while the
    // tiles pass it only when it is small. In place from 16 KB, a third of L1: the seed's dense input gradient (kc = 500,
    // 64 KB panels with AVX-512, 32 KB with AVX2) and weight gradient (kc = 128: 16 KB, 8 KB with AVX2). And only when
    // n is not a multiple of InPlaceStrideSpread floats: rows 1 KB or a larger power of two apart share so few sets of
    // L2 too (n = 4096: 4 of its 1024) that the panel no longer stays there (1.03–1.16× the packed time at n = 4096 and
    // 8192); the seed's n = 80000 = 2⁷·625 spreads them over 128.
    private const int InPlacePanelBytes = 16 * 1024;
    private const int InPlaceStrideSpread = 256;

    [ThreadStatic] private static float[]? t_packedA;
    [ThreadStatic] private static float[]? t_packedB;

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c)
    {
        var operands = new GemmOperands(Data(a), Data(b), Data(c), transA, transB, m, n, k);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0)
        {
            ScaleMatrix(operands.C, (long)m * n, beta);
            return;
        }
        if (_wide) Gemm<Simd512, Vector512<float>>(operands, alpha, beta);
        else Gemm<Simd256, Vector256<float>>(operands, alpha, beta);
    }

    /// <summary>y (rows, cols) += bias (cols) on every row.</summary>
    public void AddRowVector(DeviceBuffer y, DeviceBuffer bias, int rows, int cols)
    {
        float[] ys = Data(y), biases = Data(bias);
        int pieces = RowPieces(rows, cols);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(rows, pieces, piece);
            fixed (float* y0 = ys, b = biases)
                for (int r = first; r < end; r++) AddInto(y0 + (long)r * cols, b, cols);
        });
    }

    /// <summary>sums (cols) = Σ_rows x (rows, cols), each column added top to bottom.</summary>
    public void SumRows(DeviceBuffer x, DeviceBuffer sums, int rows, int cols)
    {
        float[] xs = Data(x), ss = Data(sums);
        int pieces = (int)Math.Clamp((long)rows * cols / ChunkLength, 1, Math.Max(1, cols / CacheLineFloats));
        ForEachPiece(pieces, piece =>
        {
            // Pieces are column ranges, whole cache lines where possible.
            var (first, end) = PieceRange(cols / CacheLineFloats, pieces, piece);
            first *= CacheLineFloats;
            end = piece == pieces - 1 ? cols : end * CacheLineFloats;
            fixed (float* x0 = xs, s = ss)
            {
                new Span<float>(s + first, end - first).Clear();
                for (int r = 0; r < rows; r++) AddInto(s + first, x0 + (long)r * cols + first, end - first);
            }
        });
    }

    private readonly record struct GemmOperands(float[] A, float[] B, float[] C, bool TransA, bool TransB, int M, int N, int K);

    private static void Gemm<TS, TV>(GemmOperands g, float alpha, float beta) where TS : ISimd<TV> where TV : struct
    {
        if (!g.TransA && g.TransB && g.M <= DotRows)
        {
            DotRowsGemm<TS, TV>(g, alpha, beta);
            return;
        }
        int kParts = KParts(g.M, g.N, g.K);
        if (kParts == 1)
        {
            // Cut the longer side of C into pieces of whole tiles; each piece packs what it needs.
            bool byColumns = g.N >= g.M;
            int unit = byColumns ? 2 * TS.Lanes : TileRows<TS, TV>();
            int units = ((byColumns ? g.N : g.M) + unit - 1) / unit;
            int pieces = Math.Min(units, 4 * Environment.ProcessorCount);
            ForEachPiece(pieces, piece =>
            {
                var (first, end) = PieceRange(units, pieces, piece);
                int from = first * unit, to = Math.Min(end * unit, byColumns ? g.N : g.M);
                fixed (float* a = g.A, b = g.B, c = g.C)
                {
                    if (byColumns) GemmBlock<TS, TV>(g, a, b, 0, g.M, from, to, 0, g.K, c, g.N, alpha, beta);
                    else GemmBlock<TS, TV>(g, a, b, from, to, 0, g.N, 0, g.K, c, g.N, alpha, beta);
                }
            });
            return;
        }

        // C is small and k long: part i computes op(A)[:, K_i] · op(B)[K_i, :] into its own buffer,
        // then C = alpha · (P_0 + P_1 + …) + beta · C, the parts added in order. In the form A · Bᵀ with B the larger
        // (a wide Linear's forward, x · Wᵀ) each part computes Pᵀ = B · Aᵀ instead: B's rows, contiguous in k, feed
        // the micro-kernel unpacked, and only A is transposed into panels; Pᵀ holds the same sums, each element the
        // same FMAs in the same order.
        bool transposed = !g.TransA && g.TransB && g.N > g.M;
        var parts = transposed ? g with { A = g.B, B = g.A, M = g.N, N = g.M } : g;
        long size = (long)g.M * g.N;
        float[] partials = ArrayPool<float>.Shared.Rent(checked((int)(size * kParts)));
        try
        {
            ForEachPiece(kParts, part =>
            {
                var (from, to) = PieceRange(g.K, kParts, part);
                fixed (float* a = parts.A, b = parts.B, p = partials)
                    GemmBlock<TS, TV>(parts, a, b, 0, parts.M, 0, parts.N, from, to, p + part * size, parts.N, 1, 0);
            });
            // The parts are added a vector of neighbouring elements at a time, in the parts' own layout (Pᵀ's when
            // transposed, whose elements land in C a column apart); pieces are its rows.
            int rows = parts.M, columns = parts.N, lanes = TS.Lanes;
            int pieces = Math.Min(rows, 4 * Environment.ProcessorCount);
            ForEachPiece(pieces, piece =>
            {
                var (first, end) = PieceRange(rows, pieces, piece);
                float* sums = stackalloc float[Vector512<float>.Count];
                fixed (float* c = g.C, p = partials)
                    for (int r = first; r < end; r++)
                        for (int q = 0; q < columns; q += lanes)
                        {
                            int count = Math.Min(lanes, columns - q);
                            long at = (long)r * columns + q;
                            if (count == lanes)
                            {
                                TV sum = TS.Load(p + at);
                                for (int part = 1; part < kParts; part++) sum = TS.Add(sum, TS.Load(p + part * size + at));
                                TS.Store(sum, sums);
                            }
                            else
                                for (int l = 0; l < count; l++)
                                {
                                    float sum = p[at + l];
                                    for (int part = 1; part < kParts; part++) sum += p[part * size + at + l];
                                    sums[l] = sum;
                                }
                            for (int l = 0; l < count; l++)
                            {
                                long i = transposed ? (long)(q + l) * g.N + r : at + l;
                                c[i] = beta == 0 ? alpha * sums[l] : MathF.FusedMultiplyAdd(alpha, sums[l], beta * c[i]);
                            }
                        }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>
    /// C (m ≤ DotRows, n) = alpha · A (m, k) · Bᵀ + beta · C, B stored (n, k). The blocked path would pad the m rows to
    /// a tile two vectors wide and compute mostly zeros; here each row of B is read once, for all of A's rows, as dot
    /// products: lane l adds the products at p ≡ l (mod lanes) in order, the lanes are added in a fixed order, then the
    /// last k mod lanes products. Rows past m read row 0 and their sums are dropped. Pieces are ranges of B's rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRowsGemm<TS, TV>(GemmOperands g, float alpha, float beta) where TS : ISimd<TV> where TV : struct
    {
        int pieces = Math.Min(g.N, 4 * Environment.ProcessorCount);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(g.N, pieces, piece);
            int k = g.K, lanes = TS.Lanes, vectorEnd = k / lanes * lanes;
            fixed (float* a = g.A, b = g.B, c = g.C)
            {
                float* a0 = a, a1 = a + Math.Min(1, g.M - 1) * (long)k, a2 = a + Math.Min(2, g.M - 1) * (long)k, a3 = a + Math.Min(3, g.M - 1) * (long)k;
                float* sums = stackalloc float[DotRows];
                for (int j = first; j < end; j++)
                {
                    float* row = b + (long)j * k;
                    TV s0 = TS.Zero, s1 = TS.Zero, s2 = TS.Zero, s3 = TS.Zero;
                    for (int p = 0; p < vectorEnd; p += lanes)
                    {
                        // B streams from memory once: asking 4 KB ahead keeps more lines in flight than the
                        // hardware's own prefetch does (one-row forward 0.66× the time)
                        if (Sse.IsSupported) Sse.Prefetch0(row + p + 1024);
                        TV bv = TS.Load(row + p);
                        s0 = TS.MultiplyAdd(TS.Load(a0 + p), bv, s0);
                        s1 = TS.MultiplyAdd(TS.Load(a1 + p), bv, s1);
                        s2 = TS.MultiplyAdd(TS.Load(a2 + p), bv, s2);
                        s3 = TS.MultiplyAdd(TS.Load(a3 + p), bv, s3);
                    }
                    (sums[0], sums[1], sums[2], sums[3]) = (TS.Sum(s0), TS.Sum(s1), TS.Sum(s2), TS.Sum(s3));
                    for (int i = 0; i < g.M; i++)
                    {
                        float sum = sums[i];
                        float* ai = a + (long)i * k;
                        for (int p = vectorEnd; p < k; p++) sum = MathF.FusedMultiplyAdd(ai[p], row[p], sum);
                        float* cij = c + (long)i * g.N + j;
                        *cij = beta == 0 ? alpha * sum : MathF.FusedMultiplyAdd(alpha, sum, beta * *cij);
                    }
                }
            }
        });
    }

    /// <summary>How many parts k is cut into: more than one only when C is small (too few tiles to share) and k is long.</summary>
    private static int KParts(int m, int n, int k) =>
        (long)m * n <= 256 * 1024 && k >= PartDepth ? Math.Min(MaxKParts, k / PartDepth) : 1;

    /// <summary>
    /// C[i0..i1, j0..j1] (row stride ldc) = alpha · op(A)[i0..i1, p0..p1] · op(B)[p0..p1, j0..j1] + beta · C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemmBlock<TS, TV>(in GemmOperands g, float* a, float* b, int i0, int i1, int j0, int j1, int p0, int p1,
        float* c, int ldc, float alpha, float beta) where TS : ISimd<TV> where TV : struct
    {
        int nr = 2 * TS.Lanes;
        float* packedA = ThreadScratch(ref t_packedA, MC * KC);
        float* packedB = ThreadScratch(ref t_packedB, (long)KC * NC);
        int mr = TileRows<TS, TV>();
        float* edgeTile = stackalloc float[MaxTileRows * 2 * Vector512<float>.Count];
        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            for (int pc = p0; pc < p1; pc += KC)
            {
                int kc = Math.Min(KC, p1 - pc);
                float scale = pc == p0 ? beta : 1;
                bool bInPlace = !g.TransB && (long)kc * nr * sizeof(float) >= InPlacePanelBytes && g.N % InPlaceStrideSpread != 0;
                int inPlaceColumns = bInPlace ? nc / nr * nr : 0;
                if (inPlaceColumns < nc) PackB<TS, TV>(g, b, pc, kc, jc + inPlaceColumns, nc - inPlaceColumns, packedB);
                for (int ic = i0; ic < i1; ic += MC)
                {
                    int mc = Math.Min(MC, i1 - ic);
                    // A stored (m, k) is read in place by full tiles (their rows contiguous in k); only a last
                    // partial panel, and A stored (k, m), are packed.
                    int packedFrom = g.TransA ? 0 : mc / mr * mr;
                    PackA(g, a, ic + packedFrom, mc - packedFrom, pc, kc, mr, packedA + packedFrom * kc);
                    // Each B panel stays in L1 while the tiles of A pass it; but rows of A read in place are better
                    // kept in L1 while the B panels pass them, when the panels are the fewer.
                    bool rowsOuter = packedFrom > 0 && mc > nc;
                    int outer = rowsOuter ? mc : nc, inner = rowsOuter ? nc : mc;
                    for (int outerAt = 0; outerAt < outer; outerAt += rowsOuter ? mr : nr)
                        for (int innerAt = 0; innerAt < inner; innerAt += rowsOuter ? nr : mr)
                        {
                            var (ir, jr) = rowsOuter ? (outerAt, innerAt) : (innerAt, outerAt);
                            int rows = Math.Min(mr, mc - ir), cols = Math.Min(nr, nc - jr);
                            bool panelInPlace = jr < inPlaceColumns;
                            float* panelB = panelInPlace ? b + (long)pc * g.N + jc + jr : packedB + (long)(jr - inPlaceColumns) * kc;
                            long ldb = panelInPlace ? g.N : nr;
                            bool fetchAhead = panelInPlace && ir == 0;
                            float* tile = c + (long)(ic + ir) * ldc + jc + jr;
                            bool aInPlace = ir < packedFrom;
                            float* panelA = aInPlace ? a + (long)(ic + ir) * g.K + pc : packedA + ir * kc;
                            long lda = aInPlace ? g.K : mr;
                            // A bottom edge of 8, 4 or 2 rows (from a packed panel) runs a kernel of that height on C in
                            // place; another edge runs the full kernel on a full-size copy. Either way each element is
                            // the same FMAs in the same order.
                            bool shortTile = rows is 8 or 4 or 2 && cols == nr && !fetchAhead;
                            if (shortTile)
                            {
                                switch (rows)
                                {
                                    case 8: MicroKernel<TS, TV, PackedPanel, NoFetch, EightRows>(kc, panelA, lda, panelB, ldb, tile, ldc, alpha, scale); break;
                                    case 4: MicroKernel<TS, TV, PackedPanel, NoFetch, FourRows>(kc, panelA, lda, panelB, ldb, tile, ldc, alpha, scale); break;
                                    default: MicroKernel<TS, TV, PackedPanel, NoFetch, TwoRows>(kc, panelA, lda, panelB, ldb, tile, ldc, alpha, scale); break;
                                }
                                continue;
                            }
                            bool edge = rows < mr || cols < nr;
                            float* target = edge ? edgeTile : tile;
                            if (edge && scale != 0) CopyTile(tile, ldc, edgeTile, nr, rows, cols);
                            long ldt = edge ? nr : ldc;
                            switch (aInPlace, fetchAhead)
                            {
                                case (true, true): MicroKernel<TS, TV, RowsInPlace, FetchAhead, FullTile>(kc, panelA, lda, panelB, ldb, target, ldt, alpha, scale); break;
                                case (true, false): MicroKernel<TS, TV, RowsInPlace, NoFetch, FullTile>(kc, panelA, lda, panelB, ldb, target, ldt, alpha, scale); break;
                                case (false, true): MicroKernel<TS, TV, PackedPanel, FetchAhead, FullTile>(kc, panelA, lda, panelB, ldb, target, ldt, alpha, scale); break;
                                case (false, false): MicroKernel<TS, TV, PackedPanel, NoFetch, FullTile>(kc, panelA, lda, panelB, ldb, target, ldt, alpha, scale); break;
                            }
                            if (edge) CopyTile(edgeTile, nr, tile, ldc, rows, cols);
                        }
                }
            }
        }
    }

    private static void CopyTile(float* source, long sourceStride, float* destination, long destinationStride, int rows, int cols)
    {
        for (int i = 0; i < rows; i++)
            new ReadOnlySpan<float>(source + i * sourceStride, cols).CopyTo(new Span<float>(destination + i * destinationStride, cols));
    }

    /// <summary>
    /// Packs op(A)[ic..ic+mc, pc..pc+kc] into panels of mr rows, each stored k-major (panel[p·mr + i]); rows past
    /// the end are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in GemmOperands g, float* a, int ic, int mc, int pc, int kc, int mr, float* packed)
    {
        for (int ir = 0; ir < mc; ir += mr, packed += mr * kc)
        {
            int rows = Math.Min(mr, mc - ir);
            if (rows < mr) new Span<float>(packed, mr * kc).Clear();
            if (g.TransA)
            {
                // A is stored (k, m): op(A)[i, p] = A[p·m + i], contiguous in i: each p copies a run of rows floats.
                float* source = a + (long)pc * g.M + ic + ir;
                for (int p = 0; p < kc; p++, source += g.M)
                    new ReadOnlySpan<float>(source, rows).CopyTo(new Span<float>(packed + p * mr, rows));
            }
            else
            {
                // A is stored (m, k): op(A)[i, p] = A[i·k + p], contiguous in p. Only a last partial panel comes
                // here: GemmBlock reads full panels of such an A in place.
                float* source = a + (long)(ic + ir) * g.K + pc;
                for (int i = 0; i < rows; i++)
                    for (int p = 0; p < kc; p++) packed[p * mr + i] = source[i * (long)g.K + p];
            }
        }
    }

    /// <summary>
    /// Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-wide panels, each stored k-major (panel[p·NR + j]); columns
    /// past the end are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB<TS, TV>(in GemmOperands g, float* b, int pc, int kc, int jc, int nc, float* packed)
        where TS : ISimd<TV> where TV : struct
    {
        int nr = 2 * TS.Lanes, fullPanels = nc / nr, panel = nr * kc;
        if (g.TransB)
        {
            // B is stored (n, k): op(B)[p, j] = B[j·k + p], contiguous in p; eight columns at a time.
            for (int j = 0; j < fullPanels * nr; j += 8)
                TransposeEightRows(b + (long)(jc + j) * g.K + pc, g.K, kc, packed + j / nr * panel + j % nr, nr);
        }
        else
        {
            // B is stored (k, n): op(B)[p, j] = B[p·n + j], contiguous in j; each row of B is read in one sweep.
            for (int p = 0; p < kc; p++)
            {
                float* source = b + (long)(pc + p) * g.N + jc;
                float* target = packed + p * nr;
                long ahead = PackAhead * (long)g.N;
                for (int jr = 0; jr < fullPanels; jr++, source += nr, target += panel)
                {
                    if (Sse.IsSupported)
                    {
                        Sse.Prefetch0(source + ahead);
                        Sse.Prefetch0(source + ahead + nr - 1);
                    }
                    TS.Store(TS.Load(source), target);
                    TS.Store(TS.Load(source + TS.Lanes), target + TS.Lanes);
                }
            }
        }
        int cols = nc - fullPanels * nr;
        if (cols == 0) return;
        // The last, partial panel: zero past the end of B.
        float* last = packed + fullPanels * panel;
        new Span<float>(last, panel).Clear();
        for (int p = 0; p < kc; p++)
            for (int j = 0; j < cols; j++)
            {
                long column = jc + fullPanels * nr + j, row = pc + p;
                last[p * nr + j] = g.TransB ? b[column * g.K + row] : b[row * g.N + column];
            }
    }

    /// <summary>
    /// destination[p·stride + r] = source[r·ld + p] for r &lt; 8, p &lt; kc: eight rows become columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeEightRows(float* source, long ld, int kc, float* destination, int stride)
    {
        int p = 0;
        if (Avx.IsSupported)
        {
            float* r0 = source, r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld, r4 = r3 + ld, r5 = r4 + ld, r6 = r5 + ld, r7 = r6 + ld;
            for (; p + 8 <= kc; p += 8)
            {
                // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves: an 8×8 transpose.
                Vector256<float> t0 = Avx.UnpackLow(Avx.LoadVector256(r0 + p), Avx.LoadVector256(r1 + p));
                Vector256<float> t1 = Avx.UnpackHigh(Avx.LoadVector256(r0 + p), Avx.LoadVector256(r1 + p));
                Vector256<float> t2 = Avx.UnpackLow(Avx.LoadVector256(r2 + p), Avx.LoadVector256(r3 + p));
                Vector256<float> t3 = Avx.UnpackHigh(Avx.LoadVector256(r2 + p), Avx.LoadVector256(r3 + p));
                Vector256<float> t4 = Avx.UnpackLow(Avx.LoadVector256(r4 + p), Avx.LoadVector256(r5 + p));
                Vector256<float> t5 = Avx.UnpackHigh(Avx.LoadVector256(r4 + p), Avx.LoadVector256(r5 + p));
                Vector256<float> t6 = Avx.UnpackLow(Avx.LoadVector256(r6 + p), Avx.LoadVector256(r7 + p));
                Vector256<float> t7 = Avx.UnpackHigh(Avx.LoadVector256(r6 + p), Avx.LoadVector256(r7 + p));
                Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
                Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
                Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
                Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
                float* d = destination + p * stride;
                Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(d + stride, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(d + 2 * stride, Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(d + 3 * stride, Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(d + 4 * stride, Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(d + 5 * stride, Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(d + 6 * stride, Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(d + 7 * stride, Avx.Permute2x128(u3, u7, 0x31));
            }
        }
        for (; p < kc; p++)
            for (int r = 0; r < 8; r++) destination[p * stride + r] = source[r * ld + p];
    }

    /// <summary>Where the micro-kernel finds A's MR values for one p: a packed panel, or MR rows of A in place.</summary>
    private interface IPanelLayout { static abstract bool InPlace { get; } }
    private readonly struct PackedPanel : IPanelLayout { public static bool InPlace => false; }
    private readonly struct RowsInPlace : IPanelLayout { public static bool InPlace => true; }

    /// <summary>Whether the micro-kernel asks, for each p, for the B panel two ahead (a B read in place).</summary>
    private interface IFetchAhead { static abstract bool Ahead { get; } }
    private readonly struct FetchAhead : IFetchAhead { public static bool Ahead => true; }
    private readonly struct NoFetch : IFetchAhead { public static bool Ahead => false; }

    /// <summary>How many of the tile's MR rows the micro-kernel computes: all, or a bottom edge's 8, 4 or 2.</summary>
    private interface ITileHeight { static abstract int Rows(int tileRows); }
    private readonly struct FullTile : ITileHeight { public static int Rows(int tileRows) => tileRows; }
    private readonly struct EightRows : ITileHeight { public static int Rows(int tileRows) => 8; }
    private readonly struct FourRows : ITileHeight { public static int Rows(int tileRows) => 4; }
    private readonly struct TwoRows : ITileHeight { public static int Rows(int tileRows) => 2; }

    /// <summary>
    /// MR, the rows of a register tile: 12 with 512-bit vectors, whose 32 registers hold its 24 accumulators, the two
    /// vectors of B and a broadcast of A; 6 with 256-bit vectors and their 16 registers. Each B vector loaded feeds MR
    /// FMAs, so the taller tile halves the B traffic per FMA where the panel streams from L2 (12 rows took 0.75–0.99×
    /// the time of 6 on a panel loop, the less the farther B lay).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TileRows<TS, TV>() where TS : ISimd<TV> where TV : struct =>
        TS.Lanes == Vector512<float>.Count ? MaxTileRows : MaxTileRows / 2;

    private const int MaxTileRows = 12;

    /// <summary>
    /// c (rows × NR, row stride ldc) = alpha · Σ_p a[·, p] ⊗ b[p] + scale · c, with b (kc × NR, row stride ldb: NR
    /// packed, n in place) and a either a packed panel (a[p·MR + i], lda = MR) or MR rows in place (a[i·lda + p]);
    /// scale 0 ignores c. The rows are MR, or fewer (<typeparamref name="TH"/>) for a bottom edge from a packed panel.
    /// With <typeparamref name="TF"/> FetchAhead each p asks for row p of the B panel two to the right. The accumulators,
    /// two vectors a row (NR = two vectors), stay in registers; the JIT drops the code of rows past the height.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel<TS, TV, TA, TF, TH>(int kc, float* a, long lda, float* b, long ldb, float* c, long ldc, float alpha, float scale)
        where TS : ISimd<TV> where TV : struct where TA : IPanelLayout where TF : IFetchAhead where TH : ITileHeight
    {
        int mr = TileRows<TS, TV>(), rows = TH.Rows(mr);
        // The tile of C is read or written only after the kc updates: fetch its lines now, so that the misses (C of
        // a wide product lies far beyond the caches) overlap the arithmetic instead of following it.
        if (Sse.IsSupported)
            for (int i = 0; i < rows; i++)
            {
                Sse.Prefetch0(c + i * ldc);
                Sse.Prefetch0(c + i * ldc + 2 * TS.Lanes - 1);
            }
        TV c00 = TS.Zero, c01 = TS.Zero, c10 = TS.Zero, c11 = TS.Zero, c20 = TS.Zero, c21 = TS.Zero;
        TV c30 = TS.Zero, c31 = TS.Zero, c40 = TS.Zero, c41 = TS.Zero, c50 = TS.Zero, c51 = TS.Zero;
        TV c60 = TS.Zero, c61 = TS.Zero, c70 = TS.Zero, c71 = TS.Zero, c80 = TS.Zero, c81 = TS.Zero;
        TV c90 = TS.Zero, c91 = TS.Zero, cA0 = TS.Zero, cA1 = TS.Zero, cB0 = TS.Zero, cB1 = TS.Zero;
        int lanes = TS.Lanes;
        // Row i of the panel at p is read `row` floats after row i − 1 (next to it in a packed panel). Rows 0–3 are read
        // from ap, 4–7 from ap4, 8–11 from ap8, each group's rows 0, 1, 2 and 3 rows on: three pointers and two strides,
        // where twelve row pointers left four of them spilled to the stack and reloaded at every p (the dense GEMMs
        // 0.95–0.99× with AVX-512).
        long step = TA.InPlace ? 1 : mr, row = TA.InPlace ? lda : 1, row3 = 3 * row;
        float* end = a + kc * step;
        for (float* ap = a; ap < end; ap += step, b += ldb)
        {
            if (TF.Ahead && Sse.IsSupported)
            {
                Sse.Prefetch0(b + 4 * lanes);
                Sse.Prefetch0(b + 5 * lanes);
            }
            float* ap4 = ap + 4 * row, ap8 = ap + 8 * row;
            TV b0 = TS.Load(b), b1 = TS.Load(b + lanes);
            TV ai = TS.Splat(ap[0]);
            c00 = TS.MultiplyAdd(ai, b0, c00); c01 = TS.MultiplyAdd(ai, b1, c01);
            ai = TS.Splat(ap[row]);
            c10 = TS.MultiplyAdd(ai, b0, c10); c11 = TS.MultiplyAdd(ai, b1, c11);
            if (rows == 2) continue;
            ai = TS.Splat(ap[2 * row]);
            c20 = TS.MultiplyAdd(ai, b0, c20); c21 = TS.MultiplyAdd(ai, b1, c21);
            ai = TS.Splat(ap[row3]);
            c30 = TS.MultiplyAdd(ai, b0, c30); c31 = TS.MultiplyAdd(ai, b1, c31);
            if (rows == 4) continue;
            ai = TS.Splat(ap4[0]);
            c40 = TS.MultiplyAdd(ai, b0, c40); c41 = TS.MultiplyAdd(ai, b1, c41);
            ai = TS.Splat(ap4[row]);
            c50 = TS.MultiplyAdd(ai, b0, c50); c51 = TS.MultiplyAdd(ai, b1, c51);
            if (rows == 6) continue;
            ai = TS.Splat(ap4[2 * row]);
            c60 = TS.MultiplyAdd(ai, b0, c60); c61 = TS.MultiplyAdd(ai, b1, c61);
            ai = TS.Splat(ap4[row3]);
            c70 = TS.MultiplyAdd(ai, b0, c70); c71 = TS.MultiplyAdd(ai, b1, c71);
            if (rows == 8) continue;
            ai = TS.Splat(ap8[0]);
            c80 = TS.MultiplyAdd(ai, b0, c80); c81 = TS.MultiplyAdd(ai, b1, c81);
            ai = TS.Splat(ap8[row]);
            c90 = TS.MultiplyAdd(ai, b0, c90); c91 = TS.MultiplyAdd(ai, b1, c91);
            ai = TS.Splat(ap8[2 * row]);
            cA0 = TS.MultiplyAdd(ai, b0, cA0); cA1 = TS.MultiplyAdd(ai, b1, cA1);
            ai = TS.Splat(ap8[row3]);
            cB0 = TS.MultiplyAdd(ai, b0, cB0); cB1 = TS.MultiplyAdd(ai, b1, cB1);
        }
        TV alphas = TS.Splat(alpha), scales = TS.Splat(scale);
        bool overwrite = scale == 0;
        UpdateC<TS, TV>(c, c00, c01, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, c10, c11, alphas, scales, overwrite);
        if (rows == 2) return;
        c += ldc;
        UpdateC<TS, TV>(c, c20, c21, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, c30, c31, alphas, scales, overwrite);
        if (rows == 4) return;
        c += ldc;
        UpdateC<TS, TV>(c, c40, c41, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, c50, c51, alphas, scales, overwrite);
        if (rows == 6) return;
        c += ldc;
        UpdateC<TS, TV>(c, c60, c61, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, c70, c71, alphas, scales, overwrite);
        if (rows == 8) return;
        c += ldc;
        UpdateC<TS, TV>(c, c80, c81, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, c90, c91, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, cA0, cA1, alphas, scales, overwrite); c += ldc;
        UpdateC<TS, TV>(c, cB0, cB1, alphas, scales, overwrite);
    }

    /// <summary>One row of a tile: c = alpha · acc + scale · c (or alpha · acc when overwriting).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateC<TS, TV>(float* c, TV left, TV right, TV alpha, TV scale, bool overwrite)
        where TS : ISimd<TV> where TV : struct
    {
        float* c1 = c + TS.Lanes;
        if (overwrite)
        {
            TS.Store(TS.Multiply(left, alpha), c);
            TS.Store(TS.Multiply(right, alpha), c1);
        }
        else
        {
            TS.Store(TS.MultiplyAdd(left, alpha, TS.Multiply(TS.Load(c), scale)), c);
            TS.Store(TS.MultiplyAdd(right, alpha, TS.Multiply(TS.Load(c1), scale)), c1);
        }
    }

    /// <summary>c = beta · c over n elements; beta 0 writes zeros (ignoring NaN).</summary>
    private static void ScaleMatrix(float[] cs, long n, float beta) =>
        ForEachChunk(n, (start, length) =>
        {
            var span = cs.AsSpan((int)start, length);
            if (beta == 0) span.Clear();
            else for (int i = 0; i < span.Length; i++) span[i] *= beta;
        });
}
