using SimilarFaces.Engine;
using SimilarFaces.GpuChecks;

// gpu-checks --list: every device found, one a line: name, then "usable" or the reason it cannot run the kernels.
// gpu-checks DEVICE [DEVICE...] [--results FILE.csv]: every per-device test of the suite (kernels against the
// reference and the cpu backend, PyTorch parity of ops and of the whole seed network, gradient checks, the tape) on
// the named devices, run in-process by NUnit's own runner, so that a machine without the .NET SDK can run them.
// Exit code 0 when nothing failed, 1 when a test failed, 2 for a usage error.

if (args is ["--list"])
{
    foreach (var d in Devices.Available()) Console.WriteLine($"{d.Name}\t{d.Problem ?? "usable"}");
    return 0;
}

var devices = new List<string>();
string? results = null;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--results" && i + 1 < args.Length) results = args[++i];
    else if (args[i].StartsWith('-'))
    {
        Console.Error.WriteLine($"error: unknown option '{args[i]}'; usage: gpu-checks DEVICE [DEVICE...] [--results FILE.csv]");
        return 2;
    }
    else devices.Add(args[i]);
}
if (devices.Count == 0)
{
    Console.Error.WriteLine("error: name at least one device (see `similar-faces devices`); usage: gpu-checks DEVICE [DEVICE...] [--results FILE.csv]");
    return 2;
}
var outcome = DeviceTestRun.Run(devices, results);
return outcome.Failed == 0 && outcome.Passed > 0 ? 0 : 1;
