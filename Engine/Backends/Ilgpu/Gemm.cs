using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// C (m,n) = α·op(A)·op(B) + β·C, and the products convolutions are made of (Conv.cs).
//
// Tiling: a group of 128 threads computes a 64×64 tile of C, walking the depth k in slices of 16 that are staged
// through shared memory (two 16×65 float arrays, depth-major, padded so neither the staging stores nor the reads
// conflict on banks). Thread (tx, ty) = (t % 16, t / 16) keeps an 8×4 micro-tile in registers: rows ty + 8i, columns
// tx + 16j, so one depth step reads 8 + 4 shared values for 32 FMAs, neighbouring threads read neighbouring B values
// and store neighbouring C values. Operands and the output are struct types, so one kernel body serves the four
// transpose combinations and the implicit-GEMM convolutions; edges are handled by loading zeros outside the matrix.
//
// Split depth: when the tile grid is too small to fill a GPU and the depth is long (a Linear layer at small batch, a
// conv weight gradient reducing over N·OH·OW), the depth is cut into slices, each group writes its partial tile to a
// workspace (slices, m, n), and a second kernel adds the slices in order: deterministic, unlike atomics.

/// <summary>An operand of the tiled product seen as a (outer, depth) matrix: op(A) is (m, k), op(B)ᵀ is (n, k).</summary>
internal interface IGemmOperand
{
    /// <summary>True when consecutive depth indices are adjacent in memory: the tile is then loaded with threads along depth.</summary>
    bool DepthContiguous { get; }

    /// <summary>Element (outer, depth); the kernel only asks for elements inside the matrix.</summary>
    float Load(int outer, int depth);
}

/// <summary>Stored outer-major, (o, d) at o·Ld + d: A (m,k), or B stored transposed (n,k).</summary>
internal readonly record struct OuterMajor(ArrayView<float> Data, int Ld) : IGemmOperand
{
    public bool DepthContiguous => true;
    public float Load(int outer, int depth) => Data[outer * Ld + depth];
}

/// <summary>Stored depth-major, (o, d) at d·Ld + o: A stored transposed (k,m), or B (k,n); as a reduction source, the columns of a matrix.</summary>
internal readonly record struct DepthMajor(ArrayView<float> Data, int Ld) : IGemmOperand, IReductionSource
{
    public bool DepthContiguous => false;
    public float Load(int outer, int depth) => Data[depth * Ld + outer];
}

/// <summary>Where the product's elements go.</summary>
internal interface IGemmOutput
{
    /// <summary>Stores element (row, col) of the product summed over depth slice <paramref name="slice"/>.</summary>
    void Store(int slice, int row, int col, float value);
}

/// <summary>
/// C (m, n) row-major ← α·value + β·C (β = 0 ignores C). With several depth slices, the raw value goes to
/// Workspace (slices, m, n) instead and <see cref="IlgpuBackend.SumSlicesKernel"/> finishes.
/// </summary>
internal readonly record struct DenseOutput(ArrayView<float> C, int Cols, float Alpha, float Beta, ArrayView<float> Workspace, int SliceLength)
    : IGemmOutput
{
    public void Store(int slice, int row, int col, float value)
    {
        int index = row * Cols + col;
        if (SliceLength > 0) Workspace[slice * SliceLength + index] = value;
        else C[index] = Beta == 0f ? Alpha * value : Alpha * value + Beta * C[index];
    }
}

/// <summary>The tile grid: group g computes tile g % Tiles over depth slice g / Tiles, [slice·SliceDepth, +SliceDepth) ∩ [0, K).</summary>
internal readonly record struct GemmTiling(int M, int N, int K, int TilesN, int Tiles, int Slices, int SliceDepth)
{
    public int Groups => Tiles * Slices;
}

internal readonly record struct GemmArgs<TA, TB, TC>(TA A, TB B, TC C, GemmTiling Tiling)
    where TA : struct, IGemmOperand where TB : struct, IGemmOperand where TC : struct, IGemmOutput;

internal readonly record struct SumSlicesArgs(ArrayView<float> Workspace, int Slices, int SliceLength, ArrayView<float> C, float Alpha, float Beta);
internal readonly record struct AddRowVectorArgs(ArrayView<float> Y, ArrayView<float> Bias, int Cols);

/// <summary>Four accumulators of one micro-tile row.</summary>
internal readonly record struct Accumulator4(float C0, float C1, float C2, float C3)
{
    /// <summary>
    /// this + a·(b0, b1, b2, b3). ILGPU emits PTX mul/add without rounding modifiers, which ptxas contracts into fused
    /// multiply-adds; MathF.FusedMultiplyAdd would become a call to an undefined function.
    /// </summary>
    public Accumulator4 Fma(float a, float b0, float b1, float b2, float b3) => new(C0 + a * b0, C1 + a * b1, C2 + a * b2, C3 + a * b3);
}

/// <summary>A thread's 8×4 accumulators, rows ty + 8i and columns tx + 16j of the group's tile; a value kept in registers.</summary>
internal readonly record struct MicroTile(
    Accumulator4 R0, Accumulator4 R1, Accumulator4 R2, Accumulator4 R3, Accumulator4 R4, Accumulator4 R5, Accumulator4 R6, Accumulator4 R7)
{
    /// <summary>Adds the outer product of tileA[a + 8i] (i &lt; 8) and tileB[b + 16j] (j &lt; 4): one depth step.</summary>
    public MicroTile Step(ArrayView<float> tileA, ArrayView<float> tileB, int a, int b)
    {
        float b0 = tileB[b], b1 = tileB[b + 16], b2 = tileB[b + 32], b3 = tileB[b + 48];
        return new MicroTile(
            R0.Fma(tileA[a], b0, b1, b2, b3), R1.Fma(tileA[a + 8], b0, b1, b2, b3),
            R2.Fma(tileA[a + 16], b0, b1, b2, b3), R3.Fma(tileA[a + 24], b0, b1, b2, b3),
            R4.Fma(tileA[a + 32], b0, b1, b2, b3), R5.Fma(tileA[a + 40], b0, b1, b2, b3),
            R6.Fma(tileA[a + 48], b0, b1, b2, b3), R7.Fma(tileA[a + 56], b0, b1, b2, b3));
    }
}

internal sealed partial class IlgpuBackend
{
    internal const int GemmThreads = 128;
    private const int TileSize = 64;
    private const int TileDepth = 16;
    private const int TileStride = TileSize + 1;
    private const int ThreadCols = 16;        // thread (tx, ty): rows ty + 8i (i < 8), columns tx + 16j (j < 4)

    /// <summary>Depth slices are added only until about this many groups run: two per multiprocessor on large GPUs.</summary>
    private const int TargetGroups = 256;
    /// <summary>Each depth slice covers at least this many depth tiles (128 values).</summary>
    private const int MinSliceTiles = 8;

    private static readonly GroupedKernel<GemmArgs<OuterMajor, DepthMajor, DenseOutput>> s_gemmNN = new(GemmKernel);
    private static readonly GroupedKernel<GemmArgs<OuterMajor, OuterMajor, DenseOutput>> s_gemmNT = new(GemmKernel);
    private static readonly GroupedKernel<GemmArgs<DepthMajor, DepthMajor, DenseOutput>> s_gemmTN = new(GemmKernel);
    private static readonly GroupedKernel<GemmArgs<DepthMajor, OuterMajor, DenseOutput>> s_gemmTT = new(GemmKernel);
    private static readonly PointwiseKernel<SumSlicesArgs> s_sumSlices = new(SumSlicesKernel);
    private static readonly PointwiseKernel<AddRowVectorArgs> s_addRowVector = new(AddRowVectorKernel);
    private static readonly GroupedKernel<ReduceArgs<DepthMajor>> s_sumRows = new(ReduceKernel);

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var av = View(a, (long)m * k);
        var bv = View(b, (long)k * n);
        var cv = View(c, (long)m * n);
        switch (transA, transB)
        {
            case (false, false): DenseProduct(s_gemmNN, new OuterMajor(av, k), new DepthMajor(bv, n), m, n, k, alpha, beta, cv); break;
            case (false, true): DenseProduct(s_gemmNT, new OuterMajor(av, k), new OuterMajor(bv, k), m, n, k, alpha, beta, cv); break;
            case (true, false): DenseProduct(s_gemmTN, new DepthMajor(av, m), new DepthMajor(bv, n), m, n, k, alpha, beta, cv); break;
            case (true, true): DenseProduct(s_gemmTT, new DepthMajor(av, m), new OuterMajor(bv, k), m, n, k, alpha, beta, cv); break;
        }
    }

    public void AddRowVector(DeviceBuffer y, DeviceBuffer bias, int rows, int cols) =>
        Launch(s_addRowVector, (long)rows * cols, new AddRowVectorArgs(View(y, (long)rows * cols), View(bias, cols), cols));

    public void SumRows(DeviceBuffer x, DeviceBuffer sums, int rows, int cols) =>
        Reduce(s_sumRows, new DepthMajor(View(x, (long)rows * cols), cols), cols, rows, View(sums, cols), 1f);

    /// <summary>C (m, n) = α·A·B + β·C for any operand types, splitting the depth when the tile grid is small.</summary>
    private void DenseProduct<TA, TB>(GroupedKernel<GemmArgs<TA, TB, DenseOutput>> kernel, in TA a, in TB b,
        int m, int n, int k, float alpha, float beta, ArrayView<float> c)
        where TA : struct, IGemmOperand where TB : struct, IGemmOperand
    {
        if (m == 0 || n == 0) return;
        checked { _ = m * n; }
        var tiling = Tiling(m, n, k, splitDepth: true);
        if (tiling.Slices == 1)
        {
            Launch(kernel, tiling.Groups, GemmThreads, new GemmArgs<TA, TB, DenseOutput>(a, b, new DenseOutput(c, n, alpha, beta, c, 0), tiling));
            return;
        }
        using var workspace = Scratch((long)tiling.Slices * m * n);
        Launch(kernel, tiling.Groups, GemmThreads,
            new GemmArgs<TA, TB, DenseOutput>(a, b, new DenseOutput(c, n, alpha, beta, workspace.Storage, m * n), tiling));
        Launch(s_sumSlices, (long)m * n, new SumSlicesArgs(workspace.Storage, tiling.Slices, m * n, c, alpha, beta));
    }

    /// <summary>The tile grid for an (m, n) product over depth k; slices depend on the shape only, never on the device.</summary>
    private static GemmTiling Tiling(int m, int n, int k, bool splitDepth)
    {
        int tilesN = (n + TileSize - 1) / TileSize;
        int tiles = checked((m + TileSize - 1) / TileSize * tilesN);
        int depthTiles = (k + TileDepth - 1) / TileDepth;
        int slices = splitDepth ? Math.Max(1, Math.Min(TargetGroups / tiles, depthTiles / MinSliceTiles)) : 1;
        int sliceDepth = (depthTiles + slices - 1) / slices * TileDepth;
        if (sliceDepth > 0) slices = (k + sliceDepth - 1) / sliceDepth;
        return new GemmTiling(m, n, k, tilesN, tiles, slices, sliceDepth);
    }

    // A (outer m, depth k), B (outer n, depth k) as operands; C (m, n) through the output; 128 threads per group
    internal static void GemmKernel<TA, TB, TC>(GemmArgs<TA, TB, TC> args)
        where TA : struct, IGemmOperand where TB : struct, IGemmOperand where TC : struct, IGemmOutput
    {
        var tileA = SharedMemory.Allocate<float>(TileDepth * TileStride); // [d·65 + row]
        var tileB = SharedMemory.Allocate<float>(TileDepth * TileStride); // [d·65 + col]
        var g = args.Tiling;
        int tile = Grid.IdxX % g.Tiles;
        int slice = Grid.IdxX / g.Tiles;
        int rowBegin = tile / g.TilesN * TileSize;
        int colBegin = tile % g.TilesN * TileSize;
        int depthBegin = slice * g.SliceDepth;
        int depthEnd = Math.Min(g.K, depthBegin + g.SliceDepth);
        int t = Group.IdxX;
        int tx = t % ThreadCols;
        int ty = t / ThreadCols;

        var acc = default(MicroTile);
        for (int d0 = depthBegin; d0 < depthEnd; d0 += TileDepth)
        {
            LoadTile(args.A, tileA, rowBegin, g.M, d0, depthEnd, t);
            LoadTile(args.B, tileB, colBegin, g.N, d0, depthEnd, t);
            Group.Barrier();
            // unrolled by four by hand: ILGPU does not unroll loops
            for (int d = 0; d < TileDepth; d += 4)
            {
                int a = d * TileStride + ty;
                int b = d * TileStride + tx;
                acc = acc.Step(tileA, tileB, a, b)
                    .Step(tileA, tileB, a + TileStride, b + TileStride)
                    .Step(tileA, tileB, a + 2 * TileStride, b + 2 * TileStride)
                    .Step(tileA, tileB, a + 3 * TileStride, b + 3 * TileStride);
            }
            Group.Barrier();
        }

        int row = rowBegin + ty;
        int col = colBegin + tx;
        StoreRow(args.C, g, slice, row, col, acc.R0);
        StoreRow(args.C, g, slice, row + 8, col, acc.R1);
        StoreRow(args.C, g, slice, row + 16, col, acc.R2);
        StoreRow(args.C, g, slice, row + 24, col, acc.R3);
        StoreRow(args.C, g, slice, row + 32, col, acc.R4);
        StoreRow(args.C, g, slice, row + 40, col, acc.R5);
        StoreRow(args.C, g, slice, row + 48, col, acc.R6);
        StoreRow(args.C, g, slice, row + 56, col, acc.R7);
    }

    /// <summary>
    /// Stages operand rows [outerBegin, +64) × depths [depthBegin, +16) into tile[d·65 + o], zeros outside
    /// (outerEnd, depthEnd). Threads run along whichever index is contiguous in memory, so global reads coalesce.
    /// </summary>
    private static void LoadTile<TOperand>(in TOperand operand, ArrayView<float> tile, int outerBegin, int outerEnd,
        int depthBegin, int depthEnd, int t) where TOperand : struct, IGemmOperand
    {
        const int passes = TileSize * TileDepth / GemmThreads; // 8
        if (operand.DepthContiguous)
        {
            int d = t % TileDepth;
            int o = t / TileDepth;
            bool depthInside = depthBegin + d < depthEnd;
            for (int pass = 0; pass < passes; pass++, o += GemmThreads / TileDepth)
            {
                int outer = outerBegin + o;
                tile[d * TileStride + o] = depthInside && outer < outerEnd ? operand.Load(outer, depthBegin + d) : 0f;
            }
        }
        else
        {
            int o = t % TileSize;
            int d = t / TileSize;
            bool outerInside = outerBegin + o < outerEnd;
            for (int pass = 0; pass < passes; pass++, d += GemmThreads / TileSize)
            {
                int depth = depthBegin + d;
                tile[d * TileStride + o] = outerInside && depth < depthEnd ? operand.Load(outerBegin + o, depth) : 0f;
            }
        }
    }

    /// <summary>Stores micro-tile row <paramref name="row"/>: columns col, col + 16, col + 32, col + 48 that lie inside C.</summary>
    private static void StoreRow<TC>(in TC output, in GemmTiling g, int slice, int row, int col, Accumulator4 r)
        where TC : struct, IGemmOutput
    {
        if (row >= g.M) return;
        if (col < g.N) output.Store(slice, row, col, r.C0);
        if (col + 16 < g.N) output.Store(slice, row, col + 16, r.C1);
        if (col + 32 < g.N) output.Store(slice, row, col + 32, r.C2);
        if (col + 48 < g.N) output.Store(slice, row, col + 48, r.C3);
    }

    // workspace (slices, m·n), c (m·n)
    internal static void SumSlicesKernel(Index1D i, SumSlicesArgs a)
    {
        float sum = 0f;
        for (int s = 0; s < a.Slices; s++) sum += a.Workspace[s * a.SliceLength + i];
        a.C[i] = a.Beta == 0f ? a.Alpha * sum : a.Alpha * sum + a.Beta * a.C[i];
    }

    // y (rows, cols), bias (cols)
    internal static void AddRowVectorKernel(Index1D i, AddRowVectorArgs a) => a.Y[i] += a.Bias[i % a.Cols];
}
