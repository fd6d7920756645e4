using NUnit.Framework;
using SimilarFaces.Cli;

namespace SimilarFaces.Tests.Cli;

public class StepPaceTests
{
    [Test]
    public void TimesOnlyTheStepsAfterTheFirst()
    {
        // A slow first step, 40 ms steps of 10 examples, and 200 ms between steps (a checkpoint, a validation):
        // 30 examples in 120 ms of steps is 250 a second; counting the pauses or the first step would give 50 or less.
        var pace = new StepPace();
        Assert.That(pace.Rate, Is.NaN);
        pace.Step(() => Sleep(300), () => 10);
        Assert.That((pace.TookStep, pace.Rate), Is.EqualTo((true, double.NaN)), "a single step gives no rate");
        for (int i = 0; i < 3; i++)
        {
            Thread.Sleep(200);
            pace.Step(() => Sleep(40), () => 10);
        }
        Assert.That(pace.Rate, Is.InRange(100, 250));
    }

    [Test]
    public void AFailedStepIsNotATakenStep()
    {
        var pace = new StepPace();
        Assert.Throws<InvalidOperationException>(() => pace.Step<int>(() => throw new InvalidOperationException(), () => 10));
        Assert.That((pace.TookStep, pace.Rate), Is.EqualTo((false, double.NaN)));
    }

    private static int Sleep(int milliseconds)
    {
        Thread.Sleep(milliseconds);
        return 0;
    }
}
