using System.CommandLine;
using SimilarFaces.Cli;

return CommandLine.Run(args);
