public enum CorpusPlaceholder {}
