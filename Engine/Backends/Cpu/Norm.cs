using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SimilarFaces.Engine.Backends.Cpu;

// Batch norm over x (N,C,L) per channel c, with M = N·L values per channel:
//   mean = Σx/M,  var = Σ(x − mean)²/M,  invStd = 1/√(var + eps),  x̂ = (x − mean)·invStd
//   the statistics in one pass over x: each row (n, c) is summed, and read again while it is in cache around c_n, its
//   mean rounded to float: R_n = Σ(x − c_n), D_n = Σ(x − c_n)². The rows of a channel then merge in order, exactly:
//   mean = Σ_n (L·c_n + R_n)/M,  Σ(x − mean)² = Σ_n [D_n + 2·(c_n − mean)·R_n + L·(c_n − mean)²]
//   y = gamma·x̂ + beta;   running ← (1 − momentum)·running + momentum·batch, with var·M/(M − 1) for runningVar
//   backward: dbeta = Σdy,  dgamma = Σdy·x̂,  dx = gamma·invStd·(dy − dbeta/M − x̂·dgamma/M),
//             then 0 where x ≤ 0 when x is a ReLU's output whose backward is folded in (a NaN x keeps dx, as ReLU's);
//             dx row by row from the sums (NormGradient), here or where a convolution's backward reads it (Conv.cs)
// Training works channel by channel: a channel's rows (one per n, L long; 2.5 MB for a tower of the seed) are read for
// the sums and read again while they are still in cache (all channels' sums first, then all rows again: the seed's
// step 1.01–1.03× the time); behind a convolution the rows' sums may come from it, taken as it wrote each image
// (Conv2dReluBatchNormForward in Conv.cs), and the rows are read once. The backward's sums: each channel's rows are cut
// into groups fixed by N and L; a group sums its rows in vectors, Σdy and Σdy·(x − mean) in one pass over a row, each
// row's totals are added in double, and the group totals are added in order. Several batches in one shape
// (NormShape.Batches) run in the same loops, each batch cut into the groups its own shape gives: each merges into its
// own statistics, and its dγ, dβ (in float) are added batch after batch.
internal sealed unsafe partial class CpuBackend
{
    public void BatchNormTrainForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer y,
        DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer runningMean, DeviceBuffer runningVar, float eps, float momentum) =>
        BatchNormTrainForward(s, x, gamma, beta, y, mean, invStd, runningMean, runningVar, eps, momentum, rowsTaken: null);

    /// <summary>
    /// <see cref="BatchNormTrainForward(in NormShape, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, float, float)"/>
    /// with every row's sums taken already (<paramref name="rowsTaken"/>, by the convolution that wrote x) or taken here.
    /// </summary>
    private void BatchNormTrainForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer y,
        DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer runningMean, DeviceBuffer runningVar, float eps, float momentum,
        RowSums? rowsTaken)
    {
        float[] xs = Data(x), gammas = Data(gamma), betas = Data(beta), ys = Data(y), means = Data(mean), invStds = Data(invStd);
        float[] runningMeans = Data(runningMean), runningVars = Data(runningVar);
        var shape = s;
        var batch = s.Batch();
        long count = (long)batch.N * batch.L;
        int groups = NormGroups(batch);
        var rows = rowsTaken ?? new RowSums(_wide, s);
        for (int c = 0; c < s.C; c++)
        {
            if (rowsTaken == null)
                ForEachGroup(s, groups, (group, first, end) =>
                {
                    fixed (float* x0 = xs)
                        for (int n = first; n < end; n++) rows.Take(n, c, x0 + Row(shape, n, c));
                });
            for (int b = 0; b < s.Batches; b++)
            {
                int from = b * batch.N, to = from + batch.N;
                double sum = 0;
                for (int n = from; n < to; n++) sum += (double)s.L * rows.Center(n, c) + rows.Residual(n, c);
                double batchMean = sum / count, deviation = 0;
                for (int n = from; n < to; n++)
                {
                    double offset = rows.Center(n, c) - batchMean;
                    deviation += rows.Deviation(n, c) + 2 * offset * rows.Residual(n, c) + s.L * offset * offset;
                }
                double variance = deviation / count;
                means[b * s.C + c] = (float)batchMean;
                invStds[b * s.C + c] = (float)(1 / Math.Sqrt(variance + eps));
                runningMeans[c] = (float)((1 - momentum) * (double)runningMeans[c] + momentum * batchMean);
                runningVars[c] = (float)((1 - momentum) * (double)runningVars[c] + momentum * variance * count / (count - 1));
            }

            ForEachGroup(s, groups, (group, first, end) =>
            {
                int statistic = group / groups * shape.C + c;
                fixed (float* x0 = xs, y0 = ys)
                    for (int n = first; n < end; n++)
                        RowAffine(x0 + Row(shape, n, c), y0 + Row(shape, n, c), shape.L, means[statistic], gammas[c] * invStds[statistic], betas[c]);
            });
        }
    }

    /// <summary>
    /// Each row (n, c) of x (N,C,L) summed around its own mean rounded to float, c_n: Σ(x − c_n) and Σ(x − c_n)², the
    /// row read again while it is in the cache (512-bit vectors when Wide).
    /// </summary>
    private sealed class RowSums(bool wide, NormShape shape)
    {
        private readonly float[] _centers = new float[shape.N * shape.C];
        private readonly double[] _residuals = new double[shape.N * shape.C], _deviations = new double[shape.N * shape.C];

        public void Take(int n, int c, float* row)
        {
            if (wide) Take<Simd512, Vector512<float>>(n * shape.C + c, row);
            else Take<Simd256, Vector256<float>>(n * shape.C + c, row);
        }

        private void Take<TS, TV>(int i, float* row) where TS : ISimd<TV> where TV : struct
        {
            _centers[i] = (float)(SumRange<TS, TV>(row, shape.L) / shape.L);
            (_residuals[i], _deviations[i]) = Deviations<TS, TV>(row, shape.L, _centers[i]);
        }

        public float Center(int n, int c) => _centers[n * shape.C + c];
        public double Residual(int n, int c) => _residuals[n * shape.C + c];
        public double Deviation(int n, int c) => _deviations[n * shape.C + c];
    }

    public void BatchNormEvalForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta,
        DeviceBuffer runningMean, DeviceBuffer runningVar, DeviceBuffer y, float eps)
    {
        float[] xs = Data(x), gammas = Data(gamma), betas = Data(beta), ys = Data(y);
        float[] runningMeans = Data(runningMean), runningVars = Data(runningVar);
        var shape = s;
        ForEachChannelGroup(s, NormGroups(s), (c, group, first, end) =>
        {
            float scale = (float)(gammas[c] / Math.Sqrt(runningVars[c] + (double)eps));
            fixed (float* x0 = xs, y0 = ys)
                for (int n = first; n < end; n++)
                    RowAffine(x0 + Row(shape, n, c), y0 + Row(shape, n, c), shape.L, runningMeans[c], scale, betas[c]);
        });
    }

    public void BatchNormBackward(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer mean,
        DeviceBuffer invStd, DeviceBuffer dx, DeviceBuffer dgamma, DeviceBuffer dbeta, bool afterRelu)
    {
        var gradient = NormGradientOf(s, x, dy, gamma, mean, invStd);
        float[] dxs = Data(dx), dgammas = Data(dgamma), dbetas = Data(dbeta);
        var shape = s;
        int groups = NormGroups(s.Batch());
        for (int c = 0; c < s.C; c++)
        {
            ChannelGradientMeans(gradient, c, groups, dgammas, dbetas);
            ForEachGroup(s, groups, (group, first, end) =>
            {
                fixed (float* dx0 = dxs)
                    for (int n = first; n < end; n++) gradient.Row(n, c, dx0 + Row(shape, n, c), afterRelu);
            });
        }
    }

    /// <summary>
    /// Training mode's backward, dx's part (512-bit vectors when Wide): x (N,C,L) BatchNorm's input, dy the gradient of
    /// its output, its mean and invStd per batch and channel at [b·C + c]; MeanDy and MeanProjection, Σdy/M and Σdy·x̂/M
    /// at [b·C + c], are filled by <see cref="ChannelGradientMeans"/> before <see cref="Row"/> reads them.
    /// </summary>
    private readonly record struct NormGradient(bool Wide, NormShape Shape, float[] X, float[] Dy, float[] Gamma, float[] Mean, float[] InvStd,
        float[] MeanDy, float[] MeanProjection)
    {
        /// <summary>dx of row (n, c) into <paramref name="dx"/>, then 0 where x ≤ 0 when <paramref name="afterRelu"/>.</summary>
        public void Row(int n, int c, float* dx, bool afterRelu)
        {
            int statistic = n / (Shape.N / Shape.Batches) * Shape.C + c;
            long row = CpuBackend.Row(Shape, n, c);
            fixed (float* x0 = X, dy0 = Dy)
            {
                var (mean, invStd, meanDy, meanProjection) = (Mean[statistic], InvStd[statistic], MeanDy[statistic], MeanProjection[statistic]);
                if (Wide) RowInputGradient<Simd512, Vector512<float>>(x0 + row, dy0 + row, dx, Shape.L, mean, invStd, Gamma[c], meanDy, meanProjection, afterRelu);
                else RowInputGradient<Simd256, Vector256<float>>(x0 + row, dy0 + row, dx, Shape.L, mean, invStd, Gamma[c], meanDy, meanProjection, afterRelu);
            }
        }
    }

    /// <summary>BatchNorm's backward over x, dy and the saved statistics, its means not yet taken.</summary>
    private NormGradient NormGradientOf(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer mean, DeviceBuffer invStd) =>
        new(_wide, s, Data(x), Data(dy), Data(gamma), Data(mean), Data(invStd), new float[s.Batches * s.C], new float[s.Batches * s.C]);

    /// <summary>
    /// Channel c's sums: dbeta = Σdy and dgamma = Σdy·x̂ (each batch's in float, added batch after batch, as a call per
    /// batch and the tape would add them), and each batch's Σdy/M and Σdy·x̂/M into the gradient's MeanDy and MeanProjection.
    /// </summary>
    private void ChannelGradientMeans(NormGradient gradient, int c, int groups, float[] dgammas, float[] dbetas)
    {
        var s = gradient.Shape;
        long count = (long)s.Batch().N * s.L;
        var (dySums, projectionSums) = ChannelGradientSums(s, c, groups, gradient.X, gradient.Dy, gradient.Mean);
        for (int b = 0; b < s.Batches; b++)
        {
            int statistic = b * s.C + c;
            double projection = projectionSums[b] * gradient.InvStd[statistic];
            dbetas[c] = b == 0 ? (float)dySums[b] : dbetas[c] + (float)dySums[b];
            dgammas[c] = b == 0 ? (float)projection : dgammas[c] + (float)projection;
            gradient.MeanDy[statistic] = (float)(dySums[b] / count);
            gradient.MeanProjection[statistic] = (float)(projection / count);
        }
    }

    // Eval mode: x̂ = (x − running_mean)·invStd with invStd = 1/√(running_var + eps), constants for backward:
    //   dx = gamma·invStd·dy,  dgamma = Σdy·x̂,  dbeta = Σdy
    public void BatchNormEvalBackward(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer runningMean,
        DeviceBuffer runningVar, DeviceBuffer dx, DeviceBuffer dgamma, DeviceBuffer dbeta, float eps)
    {
        float[] xs = Data(x), dys = Data(dy), gammas = Data(gamma), runningMeans = Data(runningMean), runningVars = Data(runningVar);
        float[] dxs = Data(dx), dgammas = Data(dgamma), dbetas = Data(dbeta);
        var shape = s with { Batches = 1 };  // the running statistics normalise every row alike
        int groups = NormGroups(shape);
        for (int c = 0; c < s.C; c++)
        {
            float invStd = (float)(1 / Math.Sqrt(runningVars[c] + (double)eps));
            var (dySums, projectionSums) = ChannelGradientSums(shape, c, groups, xs, dys, runningMeans);
            dbetas[c] = (float)dySums[0];
            dgammas[c] = (float)(projectionSums[0] * invStd);
            ForEachGroup(shape, groups, (group, first, end) =>
            {
                fixed (float* dy0 = dys, dx0 = dxs)
                    for (int n = first; n < end; n++)
                        RowAffine(dy0 + Row(shape, n, c), dx0 + Row(shape, n, c), shape.L, 0f, gammas[c] * invStd, 0f);
            });
        }
    }

    /// <summary>
    /// Channel c's Σdy and Σdy·(x − center) per batch, the center of batch b at centers[b·C + c]: each batch's groups of
    /// rows summed apart, then its groups in order.
    /// </summary>
    private (double[] DySums, double[] ProjectionSums) ChannelGradientSums(NormShape s, int c, int groups, float[] xs, float[] dys, float[] centers)
    {
        var dyGroups = new double[s.Batches * groups];
        var projectionGroups = new double[s.Batches * groups];
        ForEachGroup(s, groups, (group, first, end) =>
        {
            float center = centers[group / groups * s.C + c];
            fixed (float* x0 = xs, dy0 = dys)
            {
                double dySum = 0, projectionSum = 0;
                for (int n = first; n < end; n++)
                {
                    long row = Row(s, n, c);
                    var (rowDy, rowProjection) = RowGradientSums(dy0 + row, x0 + row, s.L, center);
                    dySum += rowDy;
                    projectionSum += rowProjection;
                }
                dyGroups[group] = dySum;
                projectionGroups[group] = projectionSum;
            }
        });
        var (dySums, projectionSums) = (new double[s.Batches], new double[s.Batches]);
        for (int b = 0; b < s.Batches; b++)
        {
            dySums[b] = SumPartials(dyGroups, groups, 1, b * groups);
            projectionSums[b] = SumPartials(projectionGroups, groups, 1, b * groups);
        }
        return (dySums, projectionSums);
    }

    private static long Row(in NormShape s, int n, int c) => ((long)n * s.C + c) * s.L;

    /// <summary>Groups of rows per channel: enough pieces for every core, fixed by the shape.</summary>
    private static int NormGroups(in NormShape s) =>
        (int)Math.Clamp((long)s.N * s.L / NormGroupLength, 1, Math.Min(s.N, 16));

    private const int NormGroupLength = 8192;

    private delegate void GroupAction(int group, int firstRow, int endRow);

    /// <summary>
    /// Runs one channel's groups of rows on all cores: each of the s.Batches batches cut into <paramref name="groups"/>
    /// groups of its rows, numbered batch·groups + the group's place in its batch; rows count from the first batch's.
    /// </summary>
    private static void ForEachGroup(NormShape s, int groups, GroupAction action)
    {
        int rows = s.N / s.Batches;
        ForEachPiece(s.Batches * groups, group =>
        {
            var (first, end) = PieceRange(rows, groups, group % groups);
            int origin = group / groups * rows;
            action(group, origin + first, origin + end);
        });
    }

    private delegate void ChannelGroupAction(int c, int group, int firstRow, int endRow);

    private static void ForEachChannelGroup(NormShape s, int groups, ChannelGroupAction action) =>
        ForEachPiece(s.C * groups, piece =>
        {
            int c = piece / groups, group = piece % groups;
            var (first, end) = PieceRange(s.N, groups, group);
            action(c, group, first, end);
        });

    /// <summary>Σ (x − center) and Σ (x − center)² over one row, each in two vector accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Sum, double SumOfSquares) Deviations<TS, TV>(float* x, int n, float center) where TS : ISimd<TV> where TV : struct
    {
        int lanes = TS.Lanes, i = 0;
        TV centers = TS.Splat(center), sum0 = TS.Zero, sum1 = TS.Zero, squares0 = TS.Zero, squares1 = TS.Zero;
        for (; i <= n - 2 * lanes; i += 2 * lanes)
        {
            TV deviation0 = TS.Subtract(TS.Load(x + i), centers), deviation1 = TS.Subtract(TS.Load(x + i + lanes), centers);
            sum0 = TS.Add(sum0, deviation0);
            sum1 = TS.Add(sum1, deviation1);
            squares0 = TS.MultiplyAdd(deviation0, deviation0, squares0);
            squares1 = TS.MultiplyAdd(deviation1, deviation1, squares1);
        }
        double total = TS.Sum(TS.Add(sum0, sum1)), totalOfSquares = TS.Sum(TS.Add(squares0, squares1));
        for (; i < n; i++)
        {
            double deviation = x[i] - center;
            total += deviation;
            totalOfSquares += deviation * deviation;
        }
        return (total, totalOfSquares);
    }

    /// <summary>Σ dy and Σ dy·(x − center) over one row, in one pass.</summary>
    private (double DySum, double ProjectionSum) RowGradientSums(float* dy, float* x, int n, float center) =>
        _wide ? GradientSums<Simd512, Vector512<float>>(dy, x, n, center) : GradientSums<Simd256, Vector256<float>>(dy, x, n, center);

    /// <summary>Σ dy and Σ dy·(x − center) over n elements, each in two vector accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double DySum, double ProjectionSum) GradientSums<TS, TV>(float* dy, float* x, int n, float center) where TS : ISimd<TV> where TV : struct
    {
        int lanes = TS.Lanes, i = 0;
        TV centers = TS.Splat(center), sum0 = TS.Zero, sum1 = TS.Zero, projection0 = TS.Zero, projection1 = TS.Zero;
        for (; i <= n - 2 * lanes; i += 2 * lanes)
        {
            TV dy0 = TS.Load(dy + i), dy1 = TS.Load(dy + i + lanes);
            sum0 = TS.Add(sum0, dy0);
            sum1 = TS.Add(sum1, dy1);
            projection0 = TS.MultiplyAdd(dy0, TS.Subtract(TS.Load(x + i), centers), projection0);
            projection1 = TS.MultiplyAdd(dy1, TS.Subtract(TS.Load(x + i + lanes), centers), projection1);
        }
        double sum = TS.Sum(TS.Add(sum0, sum1)), projection = TS.Sum(TS.Add(projection0, projection1));
        for (; i < n; i++)
        {
            sum += dy[i];
            projection += (double)dy[i] * (x[i] - center);
        }
        return (sum, projection);
    }

    /// <summary>y = (x − center)·scale + shift over one row.</summary>
    private void RowAffine(float* x, float* y, int n, float center, float scale, float shift)
    {
        if (_wide) MapRange<AffineOp, Simd512, Vector512<float>>(new AffineOp(center, scale, shift), x, y, n);
        else MapRange<AffineOp, Simd256, Vector256<float>>(new AffineOp(center, scale, shift), x, y, n);
    }

    private readonly struct AffineOp(float center, float scale, float shift) : IMapOp
    {
        public float Apply(float x) => MathF.FusedMultiplyAdd(x - center, scale, shift);
        public TV Apply<TS, TV>(TV x) where TS : ISimd<TV> where TV : struct =>
            TS.MultiplyAdd(TS.Subtract(x, TS.Splat(center)), TS.Splat(scale), TS.Splat(shift));
    }

    /// <summary>
    /// dx = gamma·invStd·(dy − meanDy − x̂·meanProjection), x̂ = (x − mean)·invStd, over one row; then 0 where x ≤ 0
    /// when <paramref name="afterRelu"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowInputGradient<TS, TV>(float* x, float* dy, float* dx, int n, float mean, float invStd, float gamma,
        float meanDy, float meanProjection, bool afterRelu) where TS : ISimd<TV> where TV : struct
    {
        int i = 0;
        TV means = TS.Splat(mean), invStds = TS.Splat(invStd), scale = TS.Splat(gamma * invStd);
        TV meanDys = TS.Splat(meanDy), negativeProjection = TS.Splat(-meanProjection);
        for (; i <= n - TS.Lanes; i += TS.Lanes)
        {
            TV input = TS.Load(x + i);
            TV normalized = TS.Multiply(TS.Subtract(input, means), invStds);
            TV gradient = TS.Multiply(scale, TS.MultiplyAdd(normalized, negativeProjection, TS.Subtract(TS.Load(dy + i), meanDys)));
            TS.Store(afterRelu ? TS.ZeroWhereAtMost(input, TS.Zero, gradient) : gradient, dx + i);
        }
        for (; i < n; i++)
        {
            float normalized = (x[i] - mean) * invStd;
            float gradient = gamma * invStd * MathF.FusedMultiplyAdd(normalized, -meanProjection, dy[i] - meanDy);
            dx[i] = afterRelu && x[i] <= 0f ? 0f : gradient;
        }
    }
}
