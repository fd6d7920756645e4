using NUnit.Framework;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

public class SyntheticFacesTests
{
    [Test]
    public void ShapeLabelsAndSeed()
    {
        var faces = new SyntheticFaces(4, 3, 10, 12, seed: 5);
        Assert.That((faces.Count, faces.Height, faces.Width), Is.EqualTo((12, 10, 12)));
        Assert.That(faces.Identities, Is.EqualTo(new[] { "id000", "id001", "id002", "id003" }));
        Assert.That(Enumerable.Range(0, 12).Select(faces.Label), Is.EqualTo(new[] { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3 }));
        Assert.That(faces.RelativePath(4), Is.EqualTo("id001/1"));
        Assert.That(faces.Image(7).Length, Is.EqualTo(120));

        var again = new SyntheticFaces(4, 3, 10, 12, seed: 5);
        var other = new SyntheticFaces(4, 3, 10, 12, seed: 6);
        Assert.That(again.Image(7).ToArray(), Is.EqualTo(faces.Image(7).ToArray()));
        Assert.That(other.Image(7).ToArray(), Is.Not.EqualTo(faces.Image(7).ToArray()));
        for (int i = 0; i < faces.Count; i++)
            Assert.That(faces.Image(i).ToArray(), Is.All.InRange(0f, 1f));
    }

    [Test]
    public void ImagesOfOneIdentityAreCloserThanImagesOfTwo()
    {
        var faces = new SyntheticFaces(10, 6, 32, 32, seed: 9);
        double Distance(int a, int b)
        {
            double sum = 0;
            var x = faces.Image(a);
            var y = faces.Image(b);
            for (int i = 0; i < x.Length; i++)
                sum += (x[i] - y[i]) * (x[i] - y[i]);
            return Math.Sqrt(sum);
        }
        // nearest neighbour on raw pixels: the closest other image should share the identity
        int correct = 0;
        double within = 0, between = 0;
        int withinCount = 0, betweenCount = 0;
        for (int a = 0; a < faces.Count; a++)
        {
            int nearest = Enumerable.Range(0, faces.Count).Where(b => b != a).MinBy(b => Distance(a, b));
            correct += faces.Label(nearest) == faces.Label(a) ? 1 : 0;
            for (int b = a + 1; b < faces.Count; b++)
                if (faces.Label(a) == faces.Label(b)) { within += Distance(a, b); withinCount++; }
                else { between += Distance(a, b); betweenCount++; }
        }
        TestContext.Out.WriteLine($"nearest neighbour accuracy {correct}/{faces.Count}, mean distance within {within / withinCount:F2}, between {between / betweenCount:F2}");
        Assert.That(correct, Is.GreaterThanOrEqualTo(faces.Count * 9 / 10));
        Assert.That(within / withinCount, Is.LessThan(0.6 * between / betweenCount));
    }
}
