"""Corpus specs of the sequence, language and graph models (tests/models/corpus/).

Each entry builds its program small (a few thousand parameters) through the program's own
constructors, and makes inputs from numpy's seeded generator so torch and tracejit get equal
values. `lib` is `torch` or `tracejit`; `mod` is the program's module in the same flavour.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
from corpus_spec import Spec


def tokens(lib, rng, vocab: int, shape: tuple, low: int = 0):
    """Integer token ids (int64) in [low, vocab)."""
    return lib.tensor(rng.integers(low, vocab, shape))


def floats(lib, rng, *shape, scale: float = 1.0):
    """float32 values from a standard normal, times `scale`."""
    return lib.tensor((rng.standard_normal(shape) * scale).astype(np.float32))


def sibling(mod, name: str):
    """Module `name` next to `mod` in a folder program (its package is the same flavour)."""
    return importlib.import_module(f"{mod.__name__.rpartition('.')[0]}.{name}")


def adjacency(lib, rng, n: int, normalize: bool):
    """A random symmetric graph with self loops, dense; row-normalised like pygcn's."""
    a = (rng.random((n, n)) < 0.3).astype(np.float32)
    a = np.maximum(a, a.T) + np.eye(n, dtype=np.float32)
    a = np.minimum(a, 1.0)
    if normalize:
        a = a / a.sum(1, keepdims=True)
    return lib.tensor(a.astype(np.float32))


# --- GPT-style language models -------------------------------------------------------------

def _nanogpt(mod):
    return mod.GPT(mod.GPTConfig(block_size=16, vocab_size=64, n_layer=2, n_head=2, n_embd=32,
                                 dropout=0.0, bias=True))


def _mingpt(mod):
    config = mod.GPT.get_default_config()
    config.model_type = None
    config.n_layer, config.n_head, config.n_embd = 2, 2, 32
    config.vocab_size, config.block_size = 64, 16
    return mod.GPT(config)


def _llama2c(mod):
    return mod.Transformer(mod.ModelArgs(dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                         vocab_size=64, multiple_of=16, max_seq_len=16))


def _mamba(mod):
    return mod.Mamba(mod.ModelArgs(d_model=16, n_layer=2, vocab_size=64))


def _idx(lib, rng):
    return (tokens(lib, rng, 64, (2, 8)),)


# generate() entries are named functions, not lambdas, so that the scripters can read them
def nanogpt_generate(model, idx):
    return model.generate(idx, 4, top_k=1)


def mingpt_generate(model, idx):
    return model.generate(idx, 4, do_sample=False)


def llama2c_generate(model, idx):
    return model.generate(idx, 3, temperature=0.0)


GPT_SPECS = [
    Spec("nanogpt", build=_nanogpt, inputs=_idx,
         notes="karpathy/nanoGPT GPT forward: last-position logits, loss None"),
    Spec("nanogpt_generate", program="nanogpt", build=_nanogpt, inputs=_idx,
         call=nanogpt_generate,
         notes="generate(): top_k=1 makes multinomial sampling deterministic"),
    Spec("mingpt", program="mingpt", module="mingpt.model", build=_mingpt, inputs=_idx,
         notes="karpathy/minGPT GPT forward: logits, loss None"),
    Spec("mingpt_generate", program="mingpt", module="mingpt.model", build=_mingpt,
         inputs=_idx, call=mingpt_generate,
         notes="generate() greedy: topk(1)"),
    Spec("llama2c", build=_llama2c, inputs=_idx,
         notes="karpathy/llama2.c Transformer: RoPE, RMSNorm, grouped-query attention"),
    Spec("llama2c_generate", program="llama2c", build=_llama2c, inputs=_idx,
         call=llama2c_generate,
         notes="generate() with temperature 0: topk(1)"),
    Spec("mamba_minimal", build=_mamba, inputs=_idx,
         notes="johnma2006/mamba-minimal: selective scan, einops, depthwise Conv1d"),
]


# --- RNN and Transformer language models (pytorch/examples word_language_model) ------------

def _rnn_model(kind: str):
    return lambda mod: mod.RNNModel(kind, 50, 16, 16, 2, dropout=0.0)


def _rnn_inputs(lstm: bool):
    def inputs(lib, rng):
        hidden = (floats(lib, rng, 2, 2, 16), floats(lib, rng, 2, 2, 16)) if lstm \
            else floats(lib, rng, 2, 2, 16)
        return tokens(lib, rng, 50, (6, 2)), hidden
    return inputs


WLM_SPECS = [
    Spec("wlm_lstm", program="word_language_model", build=_rnn_model("LSTM"),
         inputs=_rnn_inputs(True), notes="2-layer nn.LSTM language model, (h, c) state"),
    Spec("wlm_gru", program="word_language_model", build=_rnn_model("GRU"),
         inputs=_rnn_inputs(False), notes="2-layer nn.GRU language model"),
    Spec("wlm_rnn_tanh", program="word_language_model", build=_rnn_model("RNN_TANH"),
         inputs=_rnn_inputs(False), notes="2-layer nn.RNN(tanh) language model"),
    Spec("wlm_transformer", program="word_language_model",
         build=lambda mod: mod.TransformerModel(50, 16, 2, 32, 2, dropout=0.0),
         inputs=lambda lib, rng: (tokens(lib, rng, 50, (6, 2)),),
         rtol=1e-4, atol=1e-4,
         notes="nn.Transformer subclass: TransformerEncoder, causal mask, PositionalEncoding"),
]


# --- char-RNN, text CNN ---------------------------------------------------------------------

def _char_rnn(kind: str):
    return lambda mod: mod.CharRNN(30, 16, 30, kind, n_layers=2)


def _char_inputs(lstm: bool):
    def inputs(lib, rng):
        hidden = (floats(lib, rng, 2, 3, 16), floats(lib, rng, 2, 3, 16)) if lstm \
            else floats(lib, rng, 2, 3, 16)
        return tokens(lib, rng, 30, (3,)), hidden
    return inputs


def _text_cnn(mod):
    return mod.CNN_Text(SimpleNamespace(embed_num=30, embed_dim=8, class_num=3, kernel_num=4,
                                        kernel_sizes=[2, 3], dropout=0.5, static=False))


TEXT_SPECS = [
    Spec("char_rnn_gru", program="char_rnn", build=_char_rnn("gru"),
         inputs=_char_inputs(False), notes="spro/char-rnn.pytorch, one step of a 2-layer GRU"),
    Spec("char_rnn_lstm", program="char_rnn", build=_char_rnn("lstm"),
         inputs=_char_inputs(True), notes="spro/char-rnn.pytorch, one step of a 2-layer LSTM"),
    Spec("text_cnn", build=_text_cnn, inputs=lambda lib, rng: (tokens(lib, rng, 30, (2, 10)),),
         notes="Kim's CNN sentence classifier: Conv2d over embeddings, max_pool1d"),
]


# --- sequence to sequence ------------------------------------------------------------------

def _ibm_seq2seq(mod):
    encoder = sibling(mod, "EncoderRNN").EncoderRNN(
        20, 8, 16, n_layers=1, bidirectional=True, rnn_cell="lstm")
    decoder = sibling(mod, "DecoderRNN").DecoderRNN(
        20, 5, 32, sos_id=1, eos_id=2, n_layers=1, rnn_cell="lstm", bidirectional=True,
        use_attention=True)
    return mod.Seq2seq(encoder, decoder)


def _aiayn(mod):
    return mod.Transformer(30, 30, src_pad_idx=0, trg_pad_idx=0, d_word_vec=16, d_model=16,
                           d_inner=32, n_layers=1, n_head=2, d_k=8, d_v=8, dropout=0.0,
                           n_position=20)


SEQ2SEQ_SPECS = [
    Spec("ibm_seq2seq", program="ibm_seq2seq", module="seq2seq.models.seq2seq",
         build=_ibm_seq2seq, inputs=lambda lib, rng: (tokens(lib, rng, 20, (2, 7), low=3),),
         notes="IBM/pytorch-seq2seq: bidirectional LSTM encoder, attention decoder, greedy "
               "decoding (teacher forcing 0)"),
    Spec("aiayn_transformer", program="aiayn_transformer", module="transformer.Models",
         build=_aiayn,
         inputs=lambda lib, rng: (tokens(lib, rng, 30, (2, 7)), tokens(lib, rng, 30, (2, 6))),
         notes="jadore801120/attention-is-all-you-need-pytorch Transformer, pad masks"),
]


# --- convolutional sequence models, mixture of experts, ViT --------------------------------

OTHER_SPECS = [
    Spec("tcn", build=lambda mod: mod.TemporalConvNet(4, [8, 8], kernel_size=3, dropout=0.0),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 4, 16),),
         notes="locuslab/TCN: weight_norm Conv1d, dilations, Chomp1d"),
    Spec("mixture_of_experts",
         build=lambda mod: mod.MoE(dim=16, num_experts=4, hidden_dim=32,
                                   second_policy_eval="all"),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 8, 16),),
         notes="lucidrains/mixture-of-experts: top-2 gating, einsum dispatch; the "
               "deterministic second-expert policy 'all' (upstream's 'threshold' has a "
               "shape bug)"),
    Spec("vit",
         build=lambda mod: mod.ViT(image_size=16, patch_size=4, num_classes=10, dim=32,
                                   depth=2, heads=2, mlp_dim=64, dim_head=16),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 3, 16, 16),),
         notes="lucidrains/vit-pytorch ViT: einops rearrange/repeat and its Rearrange layer"),
]


# --- graph networks -------------------------------------------------------------------------

GRAPH_SPECS = [
    Spec("pygcn", program="pygcn", module="pygcn.models",
         build=lambda mod: mod.GCN(nfeat=8, nhid=16, nclass=4, dropout=0.5),
         inputs=lambda lib, rng: (floats(lib, rng, 10, 8), adjacency(lib, rng, 10, True)),
         notes="tkipf/pygcn GCN: torch.spmm on a dense normalised adjacency, log_softmax"),
    Spec("pygat", program="pygat", module="models",
         build=lambda mod: mod.GAT(nfeat=8, nhid=8, nclass=4, dropout=0.6, alpha=0.2,
                                   nheads=2),
         inputs=lambda lib, rng: (floats(lib, rng, 10, 8), adjacency(lib, rng, 10, False)),
         notes="Diego999/pyGAT GAT: masked attention with torch.where, elu, multi-head cat"),
]

SPECS = [*GPT_SPECS, *WLM_SPECS, *TEXT_SPECS, *SEQ2SEQ_SPECS, *OTHER_SPECS, *GRAPH_SPECS]


# --- more attention models: PaLM, speech-recognition attentions, nn.Transformer translator ---

def _translation_inputs(lib, rng):
    src, tgt = tokens(lib, rng, 40, (6, 2)), tokens(lib, rng, 40, (5, 2))
    src_mask = lib.tensor(np.zeros((6, 6), dtype=bool))
    tgt_mask = lib.tensor(np.triu(np.ones((5, 5), dtype=bool), k=1))
    src_padding = np.zeros((2, 6), dtype=bool)
    src_padding[1, -2:] = True  # the second source sentence is two tokens shorter
    tgt_padding = lib.tensor(np.zeros((2, 5), dtype=bool))
    return (src, tgt, src_mask, tgt_mask, lib.tensor(src_padding), tgt_padding,
            lib.tensor(src_padding))


def _query_value(lib, rng, *, key: bool = False, extra=()):
    query, value = floats(lib, rng, 2, 1, 16), floats(lib, rng, 2, 5, 16)
    return (query, floats(lib, rng, 2, 5, 16), value) if key else (query, value, *extra)


ATTENTION_SPECS = [
    Spec("palm",
         build=lambda mod: mod.PaLM(dim=32, num_tokens=64, depth=2, dim_head=8, heads=4),
         inputs=lambda lib, rng: (tokens(lib, rng, 64, (2, 8)),),
         notes="lucidrains/PaLM-pytorch: parallel attention/feed-forward blocks, rotary "
               "embeddings, SwiGLU, multi-query attention, einsum and einops"),
    Spec("translation_transformer",
         build=lambda mod: mod.Translator(2, 2, 16, 2, 40, 40, 32, 0.1),
         inputs=_translation_inputs, rtol=1e-4, atol=1e-4,
         notes="pytorch/examples language_translation: nn.Transformer encoder-decoder with "
               "causal and key-padding masks"),
    Spec("attn_additive", program="attentions",
         build=lambda mod: mod.AdditiveAttention(16),
         inputs=lambda lib, rng: _query_value(lib, rng, key=True),
         notes="sooftware/attentions: Bahdanau additive attention"),
    Spec("attn_location_aware", program="attentions",
         build=lambda mod: mod.LocationAwareAttention(16, smoothing=True),
         inputs=lambda lib, rng: _query_value(
             lib, rng, extra=(lib.tensor(rng.random((2, 5)).astype(np.float32)),)),
         notes="sooftware/attentions: location-aware attention (Conv1d over the last "
               "alignment)"),
    Spec("attn_relative_mha", program="attentions",
         build=lambda mod: mod.RelativeMultiHeadAttention(d_model=16, num_heads=2),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 5, 16), floats(lib, rng, 2, 5, 16),
                                  floats(lib, rng, 2, 5, 16), floats(lib, rng, 2, 5, 16)),
         notes="sooftware/attentions: Transformer-XL relative multi-head attention, "
               "relative shift by pad-and-view"),
]

SPECS += ATTENTION_SPECS


# --- state-space, graph VAE, Perceiver, Conformer ------------------------------------------

def _mambapy(pscan: bool):
    def build(mod):
        return mod.Mamba(mod.MambaConfig(d_model=16, n_layers=2, d_state=8, pscan=pscan))
    return build


MORE_SPECS = [
    Spec("mambapy_pscan", program="mambapy", module="mambapy.mamba", build=_mambapy(True),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 8, 16),),
         notes="alxndrTL/mamba.py: selective scan by a parallel (Blelloch) scan, an "
               "autograd.Function updating views in place"),
    Spec("mambapy_sequential", program="mambapy", module="mambapy.mamba",
         build=_mambapy(False), inputs=lambda lib, rng: (floats(lib, rng, 2, 8, 16),),
         notes="alxndrTL/mamba.py: the sequential selective scan (a Python loop over time, "
               "a list of states stacked)"),
    Spec("gae", program="gae", module="gae.model",
         build=lambda mod: mod.GCNModelVAE(8, 16, 8, dropout=0.0),
         inputs=lambda lib, rng: (floats(lib, rng, 10, 8), adjacency(lib, rng, 10, True)),
         notes="zfjsail/gae-pytorch graph VAE: GCN encoder, inner-product decoder (eval: the "
               "mean, no sampling)"),
    Spec("perceiver",
         build=lambda mod: mod.Perceiver(
             num_freq_bands=4, depth=2, max_freq=10.0, input_channels=3, input_axis=2,
             num_latents=8, latent_dim=16, cross_heads=1, latent_heads=2, cross_dim_head=8,
             latent_dim_head=8, num_classes=5),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 6, 6, 3),),
         notes="lucidrains/perceiver-pytorch: Fourier position features (meshgrid, linspace), "
               "cross- and self-attention over latents, einops"),
    Spec("conformer",
         build=lambda mod: mod.Conformer(dim=16, depth=2, dim_head=8, heads=2,
                                         conv_kernel_size=7),
         inputs=lambda lib, rng: (floats(lib, rng, 2, 10, 16),),
         notes="lucidrains/conformer: relative-position attention, depthwise Conv1d, GLU, "
               "BatchNorm1d, Swish"),
]

SPECS += MORE_SPECS


# --- text classifiers of 649453932/Chinese-Text-Classification-Pytorch ----------------------
# Each file's Config reads dataset files; its Model takes any object with the same fields.

def _ctc_config(**extra):
    return SimpleNamespace(embedding_pretrained=None, n_vocab=40, embed=16, hidden_size=16,
                           num_layers=2, dropout=0.5, num_classes=4, pad_size=12, **extra)


def _ctc_inputs(lib, rng, length: int = 12):
    """The (token ids, lengths) pair these models take as their one argument."""
    return ((tokens(lib, rng, 40, (3, length)), lib.tensor(np.array([length, 9, 5]))),)


CTC_SPECS = [
    Spec("ctc_textrnn", build=lambda mod: mod.Model(_ctc_config()), inputs=_ctc_inputs,
         notes="bidirectional 2-layer LSTM classifier, batch_first, last time step"),
    Spec("ctc_textrnn_att", build=lambda mod: mod.Model(_ctc_config(hidden_size2=8)),
         inputs=_ctc_inputs, notes="bidirectional LSTM with attention pooling"),
    Spec("ctc_textrcnn", build=lambda mod: mod.Model(_ctc_config()), inputs=_ctc_inputs,
         notes="RCNN: bidirectional LSTM, concatenated embeddings, MaxPool1d over time"),
    Spec("ctc_dpcnn", build=lambda mod: mod.Model(_ctc_config(num_filters=8)),
         inputs=lambda lib, rng: _ctc_inputs(lib, rng, 32),
         notes="deep pyramid CNN: ZeroPad2d, Conv2d, MaxPool2d repeated while the length is "
               "over 2 (32 tokens, upstream's pad size, pool down to 1)"),
    Spec("ctc_transformer",
         build=lambda mod: mod.Model(_ctc_config(dim_model=16, hidden=32, last_hidden=16,
                                                 num_head=2, num_encoder=2, device="cpu")),
         inputs=_ctc_inputs, notes="Transformer encoder classifier with sinusoid positions"),
]

SPECS += CTC_SPECS


# --- a recurrent policy: LSTMCell ------------------------------------------------------------

SPECS.append(Spec(
    "a3c_lstmcell", program="a3c",
    build=lambda mod: mod.ActorCritic(1, SimpleNamespace(n=4)),
    inputs=lambda lib, rng: ((floats(lib, rng, 2, 1, 42, 42),
                              (floats(lib, rng, 2, 256, scale=0.1),
                               floats(lib, rng, 2, 256, scale=0.1))),),
    notes="ikostrikov/pytorch-a3c ActorCritic: four stride-2 Conv2d, ELU, one nn.LSTMCell "
          "step (upstream's fixed sizes: 42x42 frames, 256 units)"))
