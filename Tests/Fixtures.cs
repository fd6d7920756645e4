using NUnit.Framework;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Tests;

/// <summary>Locates the committed PyTorch fixtures and the shared data beside the repository.</summary>
public static class Fixtures
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static SafeTensors.Contents Load(string relativePath) => SafeTensors.Read(Path.Combine(Directory, relativePath));

    public static IEnumerable<string> OpCases =>
        System.IO.Directory.GetFiles(Path.Combine(Directory, "ops"), "*.safetensors")
            .Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!;

    /// <summary>The repository root (the folder holding SimilarFaces.sln).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "SimilarFaces.sln"))) return dir.FullName;
            throw new InvalidOperationException($"no SimilarFaces.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>
    /// The AT&amp;T Database of Faces (Olivetti Research Laboratory, Cambridge) in ../shared/data/att_faces
    /// beside the repository; ignores the calling test, with the reason, when it is absent.
    /// </summary>
    public static string AttFacesOrIgnore()
    {
        var path = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data", "att_faces"));
        if (!System.IO.Directory.Exists(path)) Assert.Ignore($"AT&T faces not checked: {path} is absent (test data kept beside the repository)");
        return path;
    }

    /// <summary>A new empty folder under the system's temporary directory.</summary>
    public static string NewScratchFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "similarfaces-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(path);
        return path;
    }
}

/// <summary>Element-wise comparison |ours − reference| ≤ atol + rtol·|reference|, reporting the worst element.</summary>
public static class Close
{
    public static double WorstRelative(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - (double)expected[i]) / (atol + Math.Abs(expected[i])));
        return worst;
    }

    public static double AssertClose(float[] actual, float[] expected, double rtol, double atol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        int worstIndex = -1;
        double worstExcess = 0, worstRelative = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (actual[i] == expected[i] || (float.IsNaN(actual[i]) && float.IsNaN(expected[i]))) continue;
            double diff = Math.Abs(actual[i] - (double)expected[i]);
            double allowed = atol + rtol * Math.Abs(expected[i]);
            double scale = Math.Max(Math.Abs(expected[i]), rtol > 0 ? atol / rtol : 0);
            worstRelative = Math.Max(worstRelative, scale > 0 ? diff / scale : diff);
            // a NaN or an infinity on one side only is beyond any tolerance
            double excess = double.IsFinite(diff) ? diff - allowed : double.PositiveInfinity;
            if (excess > worstExcess)
            {
                worstExcess = excess;
                worstIndex = i;
            }
        }
        Assert.That(worstIndex, Is.EqualTo(-1),
            () => $"{what}: element {worstIndex} is {actual[worstIndex]}, expected {expected[worstIndex]} (rtol {rtol:E0}, atol {atol:E0})");
        return worstRelative;
    }
}
