using System.Text.RegularExpressions;

namespace SimilarFaces.Engine.IO;

/// <summary>
/// Writes files so that readers (and a crash or Ctrl-C) only ever see the old or the complete new file:
/// write a temporary file beside the target, flush it to disk, then rename it over the target.
/// Files that must change together (a model and its optimizer state) go through <see cref="WriteTogether"/>.
/// </summary>
public static partial class Atomic
{
    /// <summary>The journal of a <see cref="WriteTogether"/>: one line per file, "temporary name\ttarget name".</summary>
    internal const string JournalFile = ".atomic-renames";

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>: readers see the old file or the whole new one, never a part.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Temporary(path);
        try
        {
            WriteFlushed(temporary, write);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>Writes UTF-8 text atomically, as <see cref="Write"/>.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)));

    /// <summary>
    /// Writes files of one folder so that they change together: each to a temporary file beside its target, then a
    /// journal naming the renames (written atomically: from then on the new files count), then the renames, then the
    /// journal is removed. A crash before the journal leaves every old file; after it, <see cref="Recover"/> finishes the
    /// renames.
    /// </summary>
    public static void WriteTogether(string directory, IReadOnlyList<(string Name, Action<Stream> Write)> files)
    {
        Commit(directory, files);
        FinishRenames(directory);
    }

    /// <summary>
    /// Finishes a <see cref="WriteTogether"/> stopped after its journal was written, and removes the temporary files
    /// that writes stopped earlier left behind. Safe to repeat, and to stop at any point.
    /// </summary>
    public static void Recover(string directory)
    {
        if (!Directory.Exists(directory)) return;
        FinishRenames(directory);
        foreach (var file in Directory.EnumerateFiles(directory).Where(f => TemporaryName().IsMatch(Path.GetFileName(f))))
            File.Delete(file);
    }

    /// <summary>The first half of <see cref="WriteTogether"/>: every file written and flushed under its temporary name, then the journal.</summary>
    internal static void Commit(string directory, IReadOnlyList<(string Name, Action<Stream> Write)> files)
    {
        Directory.CreateDirectory(directory);
        var temporaries = files.Select(f => Temporary(Path.Combine(directory, f.Name))).ToList();
        bool committed = false;
        try
        {
            for (int i = 0; i < files.Count; i++) WriteFlushed(temporaries[i], files[i].Write);
            WriteAllText(Path.Combine(directory, JournalFile),
                string.Concat(files.Select((f, i) => $"{Path.GetFileName(temporaries[i])}\t{f.Name}\n")));
            committed = true;
        }
        finally
        {
            if (!committed)
                foreach (var temporary in temporaries.Where(File.Exists)) File.Delete(temporary);
        }
    }

    private static void FinishRenames(string directory)
    {
        var journal = Path.Combine(directory, JournalFile);
        if (!File.Exists(journal)) return;
        foreach (var line in File.ReadAllLines(journal).Where(l => l.Length > 0))
        {
            var names = line.Split('\t');
            if (names.Length != 2 || names.Any(n => n.Length == 0 || n != Path.GetFileName(n)))
                throw new InvalidDataException($"{journal}: '{line}' is not 'temporary name<TAB>file name'");
            var temporary = Path.Combine(directory, names[0]);
            if (File.Exists(temporary)) File.Move(temporary, Path.Combine(directory, names[1]), overwrite: true);
        }
        File.Delete(journal);
    }

    private static string Temporary(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");

    private static void WriteFlushed(string path, Action<Stream> write)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        write(stream);
        stream.Flush(flushToDisk: true);
    }

    [GeneratedRegex(@"^\..+\.\d+\.tmp$")]
    private static partial Regex TemporaryName();
}
