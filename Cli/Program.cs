Console.WriteLine("similar-faces");
