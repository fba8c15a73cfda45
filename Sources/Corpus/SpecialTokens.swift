/// The fixed ids of BERT's special tokens in every ntng tokenizer. A trained model gets them from
/// SentencePiece's `pad_id`/`unk_id` plus control symbols `[CLS]`, `[SEP]`, `[MASK]` in that order
/// (bos/eos disabled); a user's model without this layout is shifted so that these ids still hold.
public enum SpecialTokens {
    public static let pad: Int32 = 0
    public static let unk: Int32 = 1
    public static let cls: Int32 = 2
    public static let sep: Int32 = 3
    public static let mask: Int32 = 4
    /// Ids below this are special; ids from here up are ordinary pieces.
    public static let count: Int32 = 5
    /// Piece strings, indexed by id.
    public static let pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    /// True for [PAD], [CLS], [SEP] and [MASK]: tokens MLM never masks. [UNK] stands for real text,
    /// so it may be masked like any other token.
    @inline(__always)
    public static func isStructural(_ id: Int32) -> Bool { id < count && id != unk }
}
