"""Text analysis below net/ and engines/: phrases, stop words, language, site keyphrases."""
