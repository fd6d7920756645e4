using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Model;

public sealed class ArchitectureTests
{
    /// <summary>Checkpoint.Load compares StateValues with the file before building the network, so the count
    /// must be what a built network holds, for every kind of block.</summary>
    [Test]
    public void StateValuesCountsEveryParameterAndBuffer()
    {
        using var backend = new CpuBackend();
        foreach (var architecture in new[]
        {
            SiameseArchitecture.Seed,
            Recipes.Improved.Architecture,
            new SiameseArchitecture { ImageSize = 16, Channels = [3, 5], Padding = PaddingKind.Zero, MaxPool = true, Hidden = [], EmbeddingSize = 7 },
        })
        {
            using var network = new SiameseNetwork(backend, architecture, new SeededRandom(0));
            long held = network.NamedParameters().Concat(network.NamedBuffers()).Sum(p => p.Tensor.Length);
            Assert.That(architecture.StateValues, Is.EqualTo(held), architecture.ToJson());
        }
    }
}
