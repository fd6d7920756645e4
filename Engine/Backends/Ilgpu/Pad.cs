using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Padding x (planes, H, W) → y (planes, top+H+bottom, left+W+right). Each axis maps an output index o to a source:
//   replication  src(o) = clamp(o − before, 0, size−1)
//   reflection   src(o) = o − before mirrored about 0 and size−1 without repeating the edge (pads < size)
//   y[p, oh, ow] = x[p, src(oh), src(ow)]
// Backward gathers instead of scattering (no atomics): dx[p, h, w] = Σ_{oh: src(oh)=h} Σ_{ow: src(ow)=w} dy[p, oh, ow].
// The outputs whose source is i form at most three intervals: one for replication (it widens to the whole pad at
// an edge), up to three single indices for reflection (the copy and its two mirror images).

/// <summary>Outputs along one axis, as three intervals [Lo, Hi] (empty when Lo &gt; Hi).</summary>
internal readonly record struct PadPreimage(int Lo0, int Hi0, int Lo1, int Hi1, int Lo2, int Hi2)
{
    public static PadPreimage Single(int lo, int hi) => new(lo, hi, 1, 0, 1, 0);
    public int Lo(int part) => part == 0 ? Lo0 : part == 1 ? Lo1 : Lo2;
    public int Hi(int part) => part == 0 ? Hi0 : part == 1 ? Hi1 : Hi2;
}

internal interface IPadMode
{
    /// <summary>The input index output o copies, along an axis of the given input size with <paramref name="before"/> padded cells first.</summary>
    int Source(int o, int before, int size);

    /// <summary>The outputs whose source is input index i.</summary>
    PadPreimage Preimage(int i, int before, int size, int outSize);
}

internal readonly struct Replication : IPadMode
{
    public int Source(int o, int before, int size) => Math.Min(Math.Max(o - before, 0), size - 1);

    public PadPreimage Preimage(int i, int before, int size, int outSize) =>
        PadPreimage.Single(i == 0 ? 0 : i + before, i == size - 1 ? outSize - 1 : i + before);
}

internal readonly struct Reflection : IPadMode
{
    public int Source(int o, int before, int size)
    {
        int i = o - before;
        return i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;
    }

    public PadPreimage Preimage(int i, int before, int size, int outSize)
    {
        int low = before - i;                  // mirror image left of 0
        int high = before + 2 * (size - 1) - i; // mirror image right of size − 1
        bool hasLow = i > 0 && low >= 0;
        bool hasHigh = i < size - 1 && high < outSize;
        return new PadPreimage(i + before, i + before, hasLow ? low : 1, hasLow ? low : 0, hasHigh ? high : 1, hasHigh ? high : 0);
    }
}

/// <summary>Forward reads Input (planes, H, W) and writes Output (planes, OH, OW); backward reads dy from Output and writes dx to Input.</summary>
internal readonly record struct PadArgs(ArrayView<float> Input, ArrayView<float> Output, Pad2dShape Shape);

internal sealed partial class IlgpuBackend
{
    private sealed record PadKernels(PointwiseKernel<PadArgs> Forward, PointwiseKernel<PadArgs> Backward)
    {
        public static PadKernels For<TMode>() where TMode : struct, IPadMode => new(new(PadKernel<TMode>), new(PadBackwardKernel<TMode>));
    }

    private static readonly Dictionary<PadMode, PadKernels> s_pad = new()
    {
        [PadMode.Replication] = PadKernels.For<Replication>(),
        [PadMode.Reflection] = PadKernels.For<Reflection>(),
    };

    public void Pad2dForward(PadMode mode, in Pad2dShape s, DeviceBuffer x, DeviceBuffer y)
    {
        long outLength = (long)s.Planes * s.OutH * s.OutW;
        Launch(s_pad[mode].Forward, outLength, new PadArgs(View(x, (long)s.Planes * s.H * s.W), View(y, outLength), s));
    }

    public void Pad2dBackward(PadMode mode, in Pad2dShape s, DeviceBuffer dy, DeviceBuffer dx)
    {
        long inLength = (long)s.Planes * s.H * s.W;
        Launch(s_pad[mode].Backward, inLength, new PadArgs(View(dx, inLength), View(dy, (long)s.Planes * s.OutH * s.OutW), s));
    }

    // input x (planes, H, W) → output y (planes, OH, OW); one thread per output
    internal static void PadKernel<TMode>(Index1D i, PadArgs a) where TMode : struct, IPadMode
    {
        var s = a.Shape;
        int outW = s.OutW, outH = s.OutH;
        int ow = i % outW, oh = i / outW % outH, plane = i / (outW * outH);
        var mode = default(TMode);
        a.Output[i] = a.Input[(plane * s.H + mode.Source(oh, s.Top, s.H)) * s.W + mode.Source(ow, s.Left, s.W)];
    }

    // output dy (planes, OH, OW) → input dx (planes, H, W); one thread per input
    internal static void PadBackwardKernel<TMode>(Index1D i, PadArgs a) where TMode : struct, IPadMode
    {
        var s = a.Shape;
        int outW = s.OutW, outH = s.OutH;
        int w = i % s.W, h = i / s.W % s.H, plane = i / (s.W * s.H);
        var mode = default(TMode);
        var rows = mode.Preimage(h, s.Top, s.H, outH);
        var cols = mode.Preimage(w, s.Left, s.W, outW);
        int planeBase = plane * outH * outW;
        float sum = 0f;
        for (int rowPart = 0; rowPart < 3; rowPart++)
            for (int oh = rows.Lo(rowPart); oh <= rows.Hi(rowPart); oh++)
                for (int colPart = 0; colPart < 3; colPart++)
                    for (int ow = cols.Lo(colPart); ow <= cols.Hi(colPart); ow++)
                        sum += a.Output[planeBase + oh * outW + ow];
        a.Input[i] = sum;
    }
}
