namespace SimilarFaces.Model;

/// <summary>A point of the ROC curve: accept a pair as "same" when its distance ≤ Threshold.</summary>
public readonly record struct RocPoint(double Threshold, double FalsePositiveRate, double TruePositiveRate);

/// <summary>
/// Face verification quality from pair distances (small = same person). Positives are same-identity pairs.
///   AUC = P(d_same &lt; d_different) + ½·P(tie)   (Mann–Whitney over all positive × negative pairs)
///   EER: the threshold where the false-accept rate equals the false-reject rate (interpolated on the ROC).
/// </summary>
public sealed record VerificationReport(
    double Auc, double Eer, double EerThreshold, double AccuracyAtEer, double BestAccuracy, double BestThreshold,
    int SamePairs, int DifferentPairs, IReadOnlyList<RocPoint> Roc)
{
    public int Pairs => SamePairs + DifferentPairs;

    public static VerificationReport From(IReadOnlyList<float> distances, IReadOnlyList<bool> same)
    {
        if (distances.Count != same.Count) throw new ArgumentException($"{distances.Count} distances but {same.Count} labels");
        int positives = same.Count(s => s), negatives = same.Count - positives;
        if (positives == 0 || negatives == 0)
            throw new ArgumentException($"verification needs both same-identity and different-identity pairs (got {positives} same, {negatives} different)");

        var order = Enumerable.Range(0, distances.Count).OrderBy(i => distances[i]).ToArray();
        // ROC: sweep the threshold over the sorted distances; ties move together.
        var roc = new List<RocPoint> { new(double.NegativeInfinity, 0, 0) };
        int tp = 0, fp = 0, bestCorrect = negatives;
        double bestThreshold = double.NegativeInfinity, aucSum = 0;
        for (int i = 0; i < order.Length;)
        {
            double d = distances[order[i]];
            int tiePositives = 0, tieNegatives = 0;
            for (; i < order.Length && distances[order[i]] == d; i++)
                if (same[order[i]]) tiePositives++; else tieNegatives++;
            // Positives in this tie group beat every negative above it and half of the tied negatives.
            aucSum += tiePositives * (negatives - fp - tieNegatives + 0.5 * tieNegatives);
            tp += tiePositives;
            fp += tieNegatives;
            roc.Add(new RocPoint(d, (double)fp / negatives, (double)tp / positives));
            int correct = tp + (negatives - fp);
            if (correct > bestCorrect)
            {
                bestCorrect = correct;
                bestThreshold = d;
            }
        }

        var (eer, eerThreshold) = EqualErrorRate(roc);
        return new VerificationReport(aucSum / ((double)positives * negatives), eer, eerThreshold,
            AccuracyAt(distances, same, eerThreshold), (double)bestCorrect / distances.Count, bestThreshold, positives, negatives, roc);
    }

    /// <summary>The share of pairs judged right when a distance ≤ <paramref name="threshold"/> means "same".</summary>
    public static double AccuracyAt(IReadOnlyList<float> distances, IReadOnlyList<bool> same, double threshold)
    {
        int correct = 0;
        for (int i = 0; i < distances.Count; i++)
            if ((distances[i] <= threshold) == same[i]) correct++;
        return (double)correct / distances.Count;
    }

    /// <summary>Where FPR = FNR = 1 − TPR, linearly interpolated between the ROC points that bracket it.</summary>
    private static (double Eer, double Threshold) EqualErrorRate(List<RocPoint> roc)
    {
        for (int i = 1; i < roc.Count; i++)
        {
            var (a, b) = (roc[i - 1], roc[i]);
            double ga = a.FalsePositiveRate - (1 - a.TruePositiveRate), gb = b.FalsePositiveRate - (1 - b.TruePositiveRate);
            if (gb < 0) continue;
            double t = ga == gb ? 0 : -ga / (gb - ga);
            double eer = a.FalsePositiveRate + t * (b.FalsePositiveRate - a.FalsePositiveRate);
            double threshold = double.IsNegativeInfinity(a.Threshold) ? b.Threshold : a.Threshold + t * (b.Threshold - a.Threshold);
            return (eer, threshold);
        }
        return (0.5, roc[^1].Threshold);
    }
}
