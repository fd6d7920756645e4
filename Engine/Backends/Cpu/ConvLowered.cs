namespace SimilarFaces.Engine.Backends.Cpu;

// Convolutions whose output rows are too narrow for the direct kernels' row vectors (the deep, small feature maps
// after pooling) run as GEMMs over the lowered input ("im2col"), with M = N·OH·OW patches:
//   P (M, C·R·S):  P[(n,oh,ow), (c,r,s)] = x[n, c, oh·sh + r − ph, ow·sw + s − pw]   (0 outside x)
//   forward:       Yᵀ (M, K) = P · Wᵀ,     y[n,k,oh,ow] = Yᵀ[(n,oh,ow), k] + bias[k]
//   input grad:    dP (M, C·R·S) = dYᵀ · W,  dx[n,c,ih,iw] = Σ dP over the patches that read x[n,c,ih,iw]
//   weight grad:   dW (K, C·R·S) = dYᵀᵀ · P,  dbias[k] = Σ_rows dYᵀ[·, k]
// W (K,C,R,S) is already the (K, C·R·S) matrix. The GEMM fixes each output's order of additions, and the lowering
// and its inverse split work by image, so results do not depend on threads.
public sealed unsafe partial class CpuBackend
{
    /// <summary>True when the direct kernels would take their scalar path and the patches are deep enough for a GEMM.</summary>
    private bool Lowered(in Conv2dShape s) => s.OutW < 2 * VectorLanes && s.C * s.R * s.S >= 32;

    private void Conv2dForwardLowered(in Conv2dShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        long patches = (long)s.N * s.OutH * s.OutW;
        using var lowered = Allocate(patches * s.C * s.R * s.S);
        using var transposed = Allocate(patches * s.K);
        Lower(s, Data(x), Data(lowered));
        Gemm(false, true, (int)patches, s.K, s.C * s.R * s.S, 1f, lowered, w, 0f, transposed);
        float[] yt = Data(transposed), ys = Data(y);
        float[]? biases = bias == null ? null : Data(bias);
        var shape = s;
        ForEachPiece(s.N, n =>
        {
            int plane = shape.OutH * shape.OutW;
            for (int k = 0; k < shape.K; k++)
            {
                float b = biases?[k] ?? 0f;
                long target = ((long)n * shape.K + k) * plane, source = (long)n * plane * shape.K + k;
                for (int p = 0; p < plane; p++) ys[target + p] = yt[source + (long)p * shape.K] + b;
            }
        });
    }

    private void Conv2dBackwardInputLowered(in Conv2dShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx)
    {
        long patches = (long)s.N * s.OutH * s.OutW;
        int depth = s.C * s.R * s.S;
        using var transposed = Allocate(patches * s.K);
        using var loweredGradient = Allocate(patches * depth);
        Transpose(s, Data(dy), Data(transposed));
        Gemm(false, false, (int)patches, depth, s.K, 1f, transposed, w, 0f, loweredGradient);
        float[] dp = Data(loweredGradient), dxs = Data(dx);
        var shape = s;
        ForEachPiece(s.N, n =>
        {
            dxs.AsSpan((int)((long)n * shape.C * shape.H * shape.W), shape.C * shape.H * shape.W).Clear();
            fixed (float* dx0 = dxs, p0 = dp)
                ForEachPatchRow<AddBackToImage>(shape, n, dx0, p0);
        });
    }

    private void Conv2dBackwardWeightLowered(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? dbias)
    {
        long patches = (long)s.N * s.OutH * s.OutW;
        using var lowered = Allocate(patches * s.C * s.R * s.S);
        using var transposed = Allocate(patches * s.K);
        Lower(s, Data(x), Data(lowered));
        Transpose(s, Data(dy), Data(transposed));
        Gemm(true, false, s.K, s.C * s.R * s.S, (int)patches, 1f, transposed, lowered, 0f, dw);
        if (dbias != null) SumRows(transposed, dbias, (int)patches, s.K);
    }

    // x (N,C,H,W) → P (N·OH·OW, C·R·S), zeros where a patch leaves the image
    private static void Lower(Conv2dShape s, float[] xs, float[] patches) =>
        ForEachPiece(s.N, n =>
        {
            fixed (float* x0 = xs, p0 = patches)
                ForEachPatchRow<CopyIntoPatch>(s, n, x0, p0);
        });

    /// <summary>
    /// For image n, every run of S kernel columns (c, r) of every patch: TRun.Inside gets the image row at the run's
    /// first column and the run's place in P when the whole run lies inside the image; runs that cross the border are
    /// split into TRun.Outside stretches (single elements or whole runs) and single inside elements.
    /// </summary>
    private static void ForEachPatchRow<TRun>(in Conv2dShape s, int n, float* x0, float* p0) where TRun : struct, IPatchRun
    {
        int depth = s.C * s.R * s.S;
        for (int oh = 0; oh < s.OutH; oh++)
            for (int ow = 0; ow < s.OutW; ow++)
            {
                float* row = p0 + (((long)n * s.OutH + oh) * s.OutW + ow) * depth;
                int firstColumn = ow * s.StrideW - s.PadW;
                for (int c = 0; c < s.C; c++)
                {
                    float* channel = x0 + ((long)n * s.C + c) * s.H * s.W;
                    for (int r = 0; r < s.R; r++)
                    {
                        int ih = oh * s.StrideH + r - s.PadH;
                        float* patch = row + (c * s.R + r) * s.S;
                        if ((uint)ih >= (uint)s.H)
                        {
                            TRun.Outside(patch, s.S);
                            continue;
                        }
                        float* source = channel + (long)ih * s.W;
                        if (firstColumn >= 0 && firstColumn + s.S <= s.W)
                        {
                            TRun.Inside(source + firstColumn, patch, s.S);
                            continue;
                        }
                        for (int q = 0; q < s.S; q++)
                        {
                            int iw = firstColumn + q;
                            if ((uint)iw < (uint)s.W) TRun.Inside(source + iw, patch + q, 1);
                            else TRun.Outside(patch + q, 1);
                        }
                    }
                }
            }
    }

    private interface IPatchRun
    {
        static abstract void Inside(float* image, float* patch, int count);
        static abstract void Outside(float* patch, int count);
    }

    /// <summary>The lowering: P takes the image's values, zeros outside it.</summary>
    private readonly struct CopyIntoPatch : IPatchRun
    {
        public static void Inside(float* image, float* patch, int count)
        {
            for (int q = 0; q < count; q++) patch[q] = image[q];
        }

        public static void Outside(float* patch, int count) => new Span<float>(patch, count).Clear();
    }

    /// <summary>Its adjoint: each value of dP is added back where it was read from; outside values are dropped.</summary>
    private readonly struct AddBackToImage : IPatchRun
    {
        public static void Inside(float* image, float* patch, int count)
        {
            for (int q = 0; q < count; q++) image[q] += patch[q];
        }

        public static void Outside(float* patch, int count) { }
    }

    // dy (N,K,OH,OW) → dYᵀ (N·OH·OW, K)
    private static void Transpose(Conv2dShape s, float[] dys, float[] transposed)
    {
        int plane = s.OutH * s.OutW;
        ForEachPiece(s.N, n =>
        {
            for (int k = 0; k < s.K; k++)
            {
                long source = ((long)n * s.K + k) * plane, target = (long)n * plane * s.K + k;
                for (int p = 0; p < plane; p++) transposed[target + (long)p * s.K] = dys[source + p];
            }
        });
    }
}
