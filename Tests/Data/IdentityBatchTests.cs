using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

/// <summary>Identity splits and folds, batches of P identities × K images, and the training-image augmentation.</summary>
public class IdentityBatchTests
{
    // ---- folds and splits ----------------------------------------------------------------------

    [TestCase(35, 5)]
    [TestCase(12, 3)]
    [TestCase(7, 2)]
    public void FoldsPartitionTheIdentitiesEvenly(int identities, int folds)
    {
        var split = IdentitySubset.Folds(identities, folds, seed: 3);
        Assert.That(split, Has.Length.EqualTo(folds));
        Assert.That(split.SelectMany(f => f).Order(), Is.EqualTo(Enumerable.Range(0, identities)), "every identity in exactly one fold");
        Assert.That(split.Max(f => f.Length) - split.Min(f => f.Length), Is.LessThanOrEqualTo(1));
        Assert.That(IdentitySubset.Folds(identities, folds, seed: 3), Is.EqualTo(split), "seeded");
        Assert.That(IdentitySubset.Folds(identities, folds, seed: 4), Is.Not.EqualTo(split));
    }

    [Test]
    public void ValidationSplitIsDisjointSeededAndAtLeastTwoPeople()
    {
        var (training, validation) = IdentitySubset.Split(28, 0.15, seed: 9);
        Assert.That(validation, Has.Length.EqualTo(4), "round(0.15 · 28)");
        Assert.That(training.Intersect(validation), Is.Empty);
        Assert.That(training.Concat(validation).Order(), Is.EqualTo(Enumerable.Range(0, 28)));
        Assert.That(IdentitySubset.Split(28, 0.15, seed: 9).Validation, Is.EqualTo(validation));
        Assert.That(IdentitySubset.Split(5, 0.1, seed: 1).Validation, Has.Length.EqualTo(2), "two people at least: pairs of different people");
        Assert.Throws<ArgumentException>(() => IdentitySubset.Split(3, 0.5, seed: 1), "training would keep one person");
    }

    [Test]
    public void SubsetRelabelsItsIdentitiesAndKeepsTheirImages()
    {
        var faces = new TracedFaces(2, 3, 1, 2);
        var subset = new IdentitySubset(faces, [3, 1]);
        Assert.That(subset.Identities, Is.EqualTo(new[] { "p3", "p1" }));
        Assert.That(subset.Count, Is.EqualTo(5));
        var images = Enumerable.Range(0, subset.Count).Select(i => (subset.Image(i)[0], subset.Label(i))).ToArray();
        Assert.That(images, Is.EqualTo(new[] { (2f, 1), (3f, 1), (4f, 1), (6f, 0), (7f, 0) }));
        Assert.Throws<ArgumentException>(() => new IdentitySubset(faces, [1, 1]));
        Assert.Throws<ArgumentException>(() => new IdentitySubset(faces, [4]));
    }

    // ---- P × K batches -------------------------------------------------------------------------

    [Test]
    public void BatchesHoldDistinctIdentitiesWithDistinctImagesWhereTheyHaveEnough()
    {
        var faces = new TracedFaces(5, 4, 2, 6, 4, 3);   // identity 2 has fewer images than K
        var sampler = new IdentityBatchSampler(faces, identitiesPerBatch: 4, imagesPerIdentity: 3, Augmentation.None, seed: 5);
        var batch = new IdentityBatch(4, 3, 2, 3);
        var seen = new HashSet<int>();
        for (int step = 0; step < 50; step++)
        {
            sampler.Fill(batch);
            var groups = Enumerable.Range(0, 4).Select(p => batch.Indices.Skip(3 * p).Take(3).ToArray()).ToArray();
            Assert.That(groups.Select(g => faces.Label(g[0])).Distinct().Count(), Is.EqualTo(4), "P distinct identities");
            foreach (var group in groups)
            {
                int identity = faces.Label(group[0]);
                Assert.That(group.Select(faces.Label), Is.All.EqualTo(identity), "K images of one identity");
                if (identity != 2) Assert.That(group.Distinct().Count(), Is.EqualTo(3), "distinct images when the identity has K");
                seen.Add(identity);
            }
            for (int i = 0; i < batch.Count; i++)
            {
                Assert.That(batch.Labels[i], Is.EqualTo(faces.Label(batch.Indices[i])));
                Assert.That(batch.Images.Skip(6 * i).Take(6), Is.All.EqualTo((float)batch.Indices[i]), "the drawn image, unchanged");
            }
        }
        Assert.That(seen, Has.Count.EqualTo(6), "every identity comes up");
        Assert.That(sampler.StepsPerEpoch, Is.EqualTo(2), "24 images in batches of 12");
    }

    [Test]
    public void RestoringTheStateRepeatsTheBatches()
    {
        var faces = new SyntheticFaces(6, 5, 8, 8, seed: 2);
        var augmentation = new Augmentation { RotationDegrees = 10, Shift = 0.1f, Flip = true, Contrast = 0.2f };
        var sampler = new IdentityBatchSampler(faces, 3, 2, augmentation, seed: 8);
        var batch = new IdentityBatch(3, 2, 8, 8);
        sampler.Fill(batch);
        ulong state = sampler.State;
        sampler.Fill(batch);
        var second = (batch.Images.ToArray(), batch.Indices.ToArray());
        var restarted = new IdentityBatchSampler(faces, 3, 2, augmentation, seed: 123) { State = state };
        restarted.Fill(batch);
        Assert.That((batch.Images, batch.Indices), Is.EqualTo(second));
    }

    // ---- augmentation -----------------------------------------------------------------------------

    private static float[] Gradient(int height, int width) =>
        Enumerable.Range(0, height * width).Select(i => (i % width + 2f * (i / width)) / (width + 2f * height)).ToArray();

    [Test]
    public void NoAugmentationCopiesTheImage()
    {
        var image = Gradient(5, 7);
        var output = new float[35];
        Augmentation.None.Apply(image, output, 5, 7, new SeededRandom(1));
        Assert.That(output, Is.EqualTo(image));
    }

    [Test]
    public void FlipAloneMirrorsExactlyOrCopies()
    {
        var image = Gradient(4, 6);
        var mirrored = Enumerable.Range(0, 24).Select(i => image[i / 6 * 6 + 5 - i % 6]).ToArray();
        var flip = new Augmentation { Flip = true };
        var rng = new SeededRandom(4);
        var outcomes = new HashSet<string>();
        for (int trial = 0; trial < 20; trial++)
        {
            var output = new float[24];
            flip.Apply(image, output, 4, 6, rng);
            bool copy = output.Zip(image).All(p => Math.Abs(p.First - p.Second) <= 1e-6f);
            bool mirror = output.Zip(mirrored).All(p => Math.Abs(p.First - p.Second) <= 1e-6f);
            Assert.That(copy || mirror, Is.True, $"neither the image nor its mirror: {string.Join(", ", output)}");
            outcomes.Add(copy ? "copy" : "mirror");
        }
        Assert.That(outcomes, Has.Count.EqualTo(2), "both happen");
    }

    [Test]
    public void ShiftMovesThePatternAndValuesStayInRange()
    {
        // a bright square on black: a shift moves its centre of mass by at most the allowed shift
        var image = new float[20 * 20];
        for (int y = 8; y < 12; y++)
            for (int x = 8; x < 12; x++) image[y * 20 + x] = 1f;
        var shift = new Augmentation { Shift = 0.1f, Brightness = 0.3f, Contrast = 0.5f };
        var rng = new SeededRandom(6);
        double largest = 0;
        for (int trial = 0; trial < 30; trial++)
        {
            var output = new float[400];
            shift.Apply(image, output, 20, 20, rng);
            Assert.That(output, Is.All.InRange(0f, 1f));
            double mass = 0, cx = 0;
            float low = output.Min();
            for (int i = 0; i < 400; i++)
            {
                double w = output[i] - low;
                mass += w;
                cx += w * (i % 20);
            }
            double moved = Math.Abs(cx / mass - 9.5);
            Assert.That(moved, Is.LessThanOrEqualTo(2.0 + 1e-6), "shift ≤ 0.1 · 20 pixels");
            largest = Math.Max(largest, moved);
        }
        Assert.That(largest, Is.GreaterThan(0.5), "the square does move");
    }

    [TestCase("none")]
    [TestCase("rotation=10,scale=0.1,shift=0.08,flip,brightness=0.1,contrast=0.2")]
    [TestCase("flip")]
    public void ParseReadsWhatToStringWrites(string text)
    {
        var augmentation = Augmentation.Parse(text);
        Assert.That(augmentation.ToString(), Is.EqualTo(text));
        Assert.That(Augmentation.Parse(augmentation.ToString()), Is.EqualTo(augmentation));
    }

    [TestCase("rotation=-5", "≥ 0")]
    [TestCase("scale=1.5", "below 1")]
    [TestCase("tilt=3", "unknown augmentation 'tilt'")]
    [TestCase("rotation", "name=VALUE")]
    [TestCase("shift=NaN", "finite")]
    public void ParseRejectsBadSettingsByName(string text, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => Augmentation.Parse(text));
        Assert.That(e!.Message, Does.Contain(message));
    }
}
