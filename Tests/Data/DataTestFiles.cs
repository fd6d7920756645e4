using NUnit.Framework;

namespace SimilarFaces.Tests.Data;

/// <summary>Where the data tests find their inputs, and a scratch folder per test.</summary>
internal static class DataTestFiles
{
    public static string Fixtures => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>The AT&amp;T Database of Faces (Olivetti Research Laboratory, Cambridge) in
    /// ../shared/data/att_faces beside the repository (the folder holding SimilarFaces.sln);
    /// ignores the calling test when it is absent.</summary>
    public static string AttFacesOrIgnore()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SimilarFaces.sln")))
            dir = dir.Parent;
        if (dir?.Parent is null)
            Assert.Ignore($"AT&T faces not checked: no SimilarFaces.sln above {AppContext.BaseDirectory}");
        string att = Path.Combine(dir!.Parent!.FullName, "shared", "data", "att_faces");
        if (!Directory.Exists(att))
            Assert.Ignore($"AT&T faces not checked: {att} is absent (test data kept beside the repository)");
        return att;
    }

    public static string NewScratchFolder()
    {
        string path = Path.Combine(Path.GetTempPath(), "similarfaces-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
