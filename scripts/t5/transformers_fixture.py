"""Writes Tests/ModelsTests/Fixtures/t5-transformers.json for scripts/t5-fixture: a small T5 v1.1
in Hugging Face transformers, its weights renamed to ntng's parameter names, one batch with a
padded row, and transformers' loss and every parameter's gradient, computed in float64.

The model is transformers' own T5ForConditionalGeneration with T5 v1.1's settings (gated GELU in
the tanh form, untied head, RMS norm, no dropout) and one change, the paper's: every self-attention
block has its own relative-position bias (its code's `share_positional_bias: False`), where
transformers gives one to block 0 and hands that block's bias to the others. Each block therefore
gets a table of its own and computes its bias from it; nothing else of transformers is touched.
The weights come from transformers' own initialisation (factor 1, as T5 v1.1 trains), with the norm
gains moved off 1 so that the test sees them used. Values are rounded to float32, the precision
ntng holds them in, before the float64 pass.
"""
import json, sys

import torch
import transformers
from transformers import T5Config, T5ForConditionalGeneration

out_path = sys.argv[1]
torch.manual_seed(20261206)

# Small enough to commit, large enough to reach every bucket rule: 16 source positions with
# buckets reaching 6 make offsets past the max distance share the last bucket.
tokens, sentinels = 20, 4
shape = dict(hidden=8, heads=2, ffn_half=6, layers=2, buckets=8, max_distance=6, input_length=16, target_length=6)
config = T5Config(
    vocab_size=tokens + sentinels, d_model=shape["hidden"], d_kv=shape["hidden"] // shape["heads"],
    d_ff=shape["ffn_half"], num_layers=shape["layers"], num_decoder_layers=shape["layers"], num_heads=shape["heads"],
    relative_attention_num_buckets=shape["buckets"], relative_attention_max_distance=shape["max_distance"],
    dropout_rate=0.0, layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
    initializer_factor=1.0, decoder_start_token_id=0, pad_token_id=0, attn_implementation="eager")
model = T5ForConditionalGeneration(config)
assert model.config.dense_act_fn == "gelu_new"
# transformers 5 ties the head to the embedding whatever the config says, but an untied config
# turns its d^-1/2 rescaling off. T5 v1.1's head is its own matrix, initialised N(0, 1) as the
# embedding is: untie it by hand.
assert not model.config.scale_decoder_outputs
model.lm_head.weight = torch.nn.Parameter(torch.randn(tokens + sentinels, shape["hidden"]))
assert model.lm_head.weight is not model.shared.weight

# Every self-attention block gets its own bias table and computes its bias from it.
for stack in (model.encoder, model.decoder):
    for block in stack.block:
        attention = block.layer[0].SelfAttention
        if not attention.has_relative_attention_bias:
            attention.has_relative_attention_bias = True
            attention.relative_attention_bias = torch.nn.Embedding(shape["buckets"], shape["heads"])
            torch.nn.init.normal_(attention.relative_attention_bias.weight, std=shape["hidden"] ** -0.5)
        forward = block.forward
        # The stack passes block 0's bias to the others as the third argument; drop it.
        block.forward = (lambda f: lambda hidden, mask, position_bias, *rest, **kw: f(hidden, mask, None, *rest, **kw))(forward)

with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("layer_norm.weight"):
            p.mul_(1 + 0.2 * torch.randn_like(p))
        p.copy_(p.float())
model = model.double()

# Three rows; the second has 11 real source tokens and 4 real targets, the rest padding.
b, s, t = 3, shape["input_length"], shape["target_length"]
vocab = tokens + sentinels
inputs = torch.randint(1, vocab, (b, s))
targets = torch.randint(1, vocab, (b, t))
input_lengths, target_lengths = [s, 11, s], [t, 4, t]
attention_mask = torch.ones(b, s, dtype=torch.long)
labels = targets.clone()
for row in range(b):
    attention_mask[row, input_lengths[row]:] = 0
    inputs[row, input_lengths[row]:] = 0
    labels[row, target_lengths[row]:] = -100
decoder_inputs = torch.zeros(b, t, dtype=torch.long)
decoder_inputs[:, 1:] = targets[:, :-1]

out = model(input_ids=inputs, attention_mask=attention_mask, decoder_input_ids=decoder_inputs, labels=labels)
out.loss.backward()
# The patch took: a block past the first has a bias of its own, and it reaches the loss.
for stack in ("encoder", "decoder"):
    assert model.get_parameter(f"{stack}.block.1.layer.0.SelfAttention.relative_attention_bias.weight").grad.abs().sum() > 0
token_losses = torch.nn.functional.cross_entropy(out.logits.reshape(-1, vocab), labels.reshape(-1), ignore_index=-100,
                                                 reduction="none").reshape(b, t)

params = dict(model.named_parameters())

# Greedy decoding of the same rows (transformers' generate with its key/value cache), for
# `generateGreedy`: up to 8 tokens, stopping at id 1. Float32 could break a near-tie the other way,
# so every step's best logit must lead the next by far more than float32's error.
end_token, max_length = 1, 8
with torch.no_grad():
    generated = model.generate(input_ids=inputs, attention_mask=attention_mask, max_new_tokens=max_length, do_sample=False,
                               num_beams=1, decoder_start_token_id=0, eos_token_id=end_token, pad_token_id=0,
                               output_scores=True, return_dict_in_generate=True)
margins = [float(v[0] - v[1]) for step in generated.scores for v in step.topk(2, dim=-1).values if torch.isfinite(v).all()]
assert min(margins) > 1e-3, f"a near-tie in greedy decoding ({min(margins)}); change the seed"
greedy = []
for row in generated.sequences.tolist():
    ids = row[1:]  # after the start id
    greedy.append(ids[:ids.index(end_token)] if end_token in ids else ids)


def ntng_names():
    """ntng's parameter name → the transformers tensor it is, packed the way ntng packs it:
    `qkv` = [q; k; v], cross-attention `key_value` = [k; v], `ffn.input` = [wi_1; wi_0] (the
    linear half first, then the GELU's)."""
    def cat(*names):
        return lambda source: torch.cat([source[n] for n in names], dim=0)

    def self_attention(ours, theirs):
        a = theirs + "SelfAttention."
        return {ours + "_norm.gain": cat(theirs + "layer_norm.weight"),
                ours + ".qkv.weight": cat(*(a + f"{x}.weight" for x in "qkv")),
                ours + ".relative_bias": cat(a + "relative_attention_bias.weight"),
                ours + ".output.weight": cat(a + "o.weight")}

    def feed_forward(ours, theirs):
        f = theirs + "DenseReluDense."
        return {ours + "ffn_norm.gain": cat(theirs + "layer_norm.weight"),
                ours + "ffn.input.weight": cat(f + "wi_1.weight", f + "wi_0.weight"),
                ours + "ffn.output.weight": cat(f + "wo.weight")}

    m = {"embedding.token": cat("shared.weight"), "encoder.final_norm.gain": cat("encoder.final_layer_norm.weight"),
         "decoder.final_norm.gain": cat("decoder.final_layer_norm.weight"), "head.weight": cat("lm_head.weight")}
    for l in range(shape["layers"]):
        e, d = f"encoder.block.{l}.layer.", f"decoder.block.{l}.layer."
        m |= self_attention(f"encoder.layers.{l}.attention", e + "0.")
        m |= feed_forward(f"encoder.layers.{l}.", e + "1.")
        m |= self_attention(f"decoder.layers.{l}.self_attention", d + "0.")
        cross, p = d + "1.EncDecAttention.", f"decoder.layers.{l}.cross_attention"
        m |= {p + "_norm.gain": cat(d + "1.layer_norm.weight"), p + ".query.weight": cat(cross + "q.weight"),
              p + ".key_value.weight": cat(cross + "k.weight", cross + "v.weight"), p + ".output.weight": cat(cross + "o.weight")}
        m |= feed_forward(f"decoder.layers.{l}.", d + "2.")
    return m


mapping = ntng_names()
values = {n: [float(x) for x in f({k: v.detach() for k, v in params.items()}).reshape(-1)] for n, f in mapping.items()}
grads = {n: [float(x) for x in f({k: v.grad for k, v in params.items()}).reshape(-1)] for n, f in mapping.items()}
assert sum(len(v) for v in values.values()) == sum(p.numel() for p in params.values()), "a tensor is left out of the mapping"

fixture = {
    "source": f"transformers {transformers.__version__}, torch {torch.__version__}: T5ForConditionalGeneration, "
              "T5 v1.1 settings, a relative bias in every self-attention block; float64 pass (scripts/t5-fixture)",
    "shape": dict(shape, tokens=tokens, sentinels=sentinels, epsilon=1e-6),
    "batch": {"inputs": inputs.reshape(-1).tolist(), "decoder_inputs": decoder_inputs.reshape(-1).tolist(),
              "targets": targets.reshape(-1).tolist(), "input_lengths": input_lengths, "target_lengths": target_lengths},
    "loss": out.loss.item(),
    "row_losses": token_losses.sum(dim=1).tolist(),
    "greedy": {"end_token": end_token, "max_length": max_length, "outputs": greedy},
    "parameters": values,
    "gradients": grads,
}
with open(out_path, "w") as f:
    json.dump(fixture, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"{out_path}: loss {out.loss.item():.6f}, {sum(len(v) for v in values.values())} parameters in {len(values)} tensors")
