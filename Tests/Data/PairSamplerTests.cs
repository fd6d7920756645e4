using NUnit.Framework;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

public class PairSamplerTests
{
    private static List<(int First, int Second, float Label)> Pairs(PairSampler sampler, PairBatch batch, int epochs)
    {
        var pairs = new List<(int, int, float)>();
        for (int e = 0; e < epochs; e++)
            foreach (var b in sampler.Epoch(batch))
                for (int i = 0; i < b.Count; i++)
                    pairs.Add((b.First[i], b.Second[i], b.Label[i]));
        return pairs;
    }

    [Test]
    public void SameSeedSamePairsOtherSeedOtherPairs()
    {
        var faces = new SyntheticFaces(5, 4, 8, 8, seed: 1);
        var a = Pairs(new PairSampler(faces, 42), new PairBatch(6, 8, 8), 3);
        var b = Pairs(new PairSampler(faces, 42), new PairBatch(6, 8, 8), 3);
        var c = Pairs(new PairSampler(faces, 43), new PairBatch(6, 8, 8), 3);
        Assert.That(a, Has.Count.EqualTo(60));
        Assert.That(b, Is.EqualTo(a));
        Assert.That(c, Is.Not.EqualTo(a));
    }

    [Test]
    public void EpochHasOnePairPerImageAndASmallerLastBatch()
    {
        var faces = new TracedFaces(3, 3, 4);
        var sampler = new PairSampler(faces, 7);
        var batch = new PairBatch(4, 2, 3);
        var counts = new List<int>();
        for (int e = 0; e < 2; e++)
            foreach (var b in sampler.Epoch(batch))
                counts.Add(b.Count);
        Assert.That(sampler.PairsPerEpoch, Is.EqualTo(10));
        Assert.That(counts, Is.EqualTo(new[] { 4, 4, 2, 4, 4, 2 }));
    }

    [Test]
    public void BatchesHoldTheDrawnImagesAndTheirLabels()
    {
        var faces = new TracedFaces(1, 2, 7);
        var sampler = new PairSampler(faces, 3);
        var batch = new PairBatch(5, 2, 3);
        for (int e = 0; e < 20; e++)
            foreach (var b in sampler.Epoch(batch))
                for (int i = 0; i < b.Count; i++)
                {
                    Assert.That(b.Image0.AsSpan(i * 6, 6).ToArray(), Is.All.EqualTo((float)b.First[i]));
                    Assert.That(b.Image1.AsSpan(i * 6, 6).ToArray(), Is.All.EqualTo((float)b.Second[i]));
                    bool sameIdentity = faces.Label(b.First[i]) == faces.Label(b.Second[i]);
                    Assert.That(b.Label[i], Is.EqualTo(sameIdentity ? 0f : 1f));
                }
    }

    [Test]
    public void HalfThePairsAreSameIdentityAndDrawsAreUniform()
    {
        // identities of 1, 2 and 7 images: image 0 is alone, 1-2 together, 3-9 together
        var faces = new TracedFaces(1, 2, 7);
        var sampler = new PairSampler(faces, 11);
        const int n = 40_000;
        var firstCounts = new int[faces.Count];
        var secondGivenSame = new int[faces.Count];
        var secondGivenDifferent = new int[faces.Count];
        int same = 0;
        for (int i = 0; i < n; i++)
        {
            var (first, second) = sampler.NextPair();
            firstCounts[first]++;
            if (faces.Label(first) == faces.Label(second))
            {
                same++;
                secondGivenSame[second]++;
                if (first == 0)
                    Assert.That(second, Is.EqualTo(0), "a lone image pairs with itself");
            }
            else
                secondGivenDifferent[second]++;
        }
        Assert.That(same / (double)n, Is.EqualTo(0.5).Within(0.015)); // σ = 0.0025
        foreach (int count in firstCounts)
            Assert.That(count / (double)n, Is.EqualTo(0.1).Within(0.008)); // σ = 0.0015
        // a same pair's second image is uniform within the identity: P = P(identity) / size = 0.1
        // given img0 in an identity of size m, so for every image P(second = i | same) = 0.1
        foreach (int count in secondGivenSame)
            Assert.That(count / (double)same, Is.EqualTo(0.1).Within(0.01));
        // different: the second is uniform over the other identities' images. Image 0 comes from
        // img0 in {1, 2} (P 0.2, 1 of 8) or {3..9} (P 0.7, 1 of 3); image 1 from img0 = 0 (P 0.1,
        // 1 of 9) or {3..9}; image 5 from img0 = 0 or {1, 2}
        double different = n - same;
        Assert.That(secondGivenDifferent[0] / different, Is.EqualTo(0.2 / 8 + 0.7 / 3).Within(0.01));
        Assert.That(secondGivenDifferent[1] / different, Is.EqualTo(0.1 / 9 + 0.7 / 3).Within(0.01));
        Assert.That(secondGivenDifferent[5] / different, Is.EqualTo(0.1 / 9 + 0.2 / 8).Within(0.01));
    }

    [Test]
    public void BatchShapeMustMatchTheDataset()
    {
        var sampler = new PairSampler(new TracedFaces(2, 2), 1);
        Assert.Throws<ArgumentException>(() => sampler.Epoch(new PairBatch(4, 3, 3)).First());
    }
}
