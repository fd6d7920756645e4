namespace SimilarFaces.Cli;

/// <summary>
/// Output options checked before any work, so that a run never trains for hours to fail at its first write: the
/// nearest folder that exists on the way to the output must be a folder (not a file) where a file can be created
/// (a probe, removed at once); a folder given for a file, or a file for a folder, is refused. Nothing is left behind.
/// </summary>
public static class Outputs
{
    /// <summary>A folder the command writes files into (created when missing).</summary>
    public static void Folder(string path, string option)
    {
        NotEmpty(path, option);
        if (System.IO.File.Exists(path)) throw new ArgumentException($"{option}: {path} is a file, not a folder");
        Probe(path, path, option);
    }

    /// <summary>A file the command writes (its folder created when missing).</summary>
    public static void File(string path, string option)
    {
        NotEmpty(path, option);
        if (Directory.Exists(path)) throw new ArgumentException($"{option}: {path} is a folder, not a file");
        Probe(Path.GetDirectoryName(Path.GetFullPath(path))!, path, option);
    }

    private static void NotEmpty(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"{option}: an empty path");
    }

    private static void Probe(string folder, string path, string option)
    {
        var existing = Path.GetFullPath(folder);
        while (!Directory.Exists(existing))
        {
            if (System.IO.File.Exists(existing)) throw new ArgumentException($"{option}: cannot write to {path}: {existing} is a file");
            existing = Path.GetDirectoryName(existing)!;
        }
        try
        {
            using var probe = new FileStream(Path.Combine(existing, $".write-probe.{Environment.ProcessId}.tmp"),
                FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{option}: cannot write to {path}: no file can be created in {existing}{(e is UnauthorizedAccessException ? " (permission denied)" : "")}");
        }
    }
}
