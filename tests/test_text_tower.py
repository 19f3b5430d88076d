"""The end-to-end text tower (``model.text_tower`` top_k / lora) on a tiny random BERT: cached
lower layers, LoRA at step 0, which parameters a step moves, the memory bank against the exact
path, and checkpoint -> resume -> serving with the fine-tuned encoder."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from recjax.config.schema import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    ModelConfig,
    RunConfig,
    SplitConfig,
    SyntheticConfig,
    TextConfig,
    TrainConfig,
)
from recjax.graph import build_graph
from recjax.models import Features, build_model, init_variables
from recjax.text.bert import pool_segments
from recjax.text.encode import TextEncoder
from recjax.text.tokens import token_states
from recjax.train.optim import make_optimizer
from recjax.train.state import TrainState
from recjax.train.step import loss_and_updates, make_train_step
from tests.conftest import make_interactions
from tests.text.tiny_checkpoint import WORDS, write_tiny_checkpoint

NUM_USERS, NUM_ITEMS = 10, 20


def _texts():
    rng = np.random.default_rng(0)
    words = WORDS[5:]
    return [" ".join(rng.choice(words, rng.integers(3, 24))) for _ in range(NUM_ITEMS + NUM_USERS)]


TEXTS = _texts()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def encoder(ckpt):
    return TextEncoder(str(ckpt))


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(NUM_USERS), 5)
    items = np.concatenate([rng.choice(NUM_ITEMS, 5, replace=False) for _ in range(NUM_USERS)])
    return build_graph(make_interactions(users, items, num_users=NUM_USERS,
                                         num_items=NUM_ITEMS))


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(2)
    return {"users": jnp.asarray(rng.integers(0, NUM_USERS, 16), jnp.int32),
            "items": jnp.asarray(rng.integers(0, NUM_ITEMS, 16), jnp.int32),
            "labels": jnp.ones(16), "mask": jnp.ones(16, bool)}


def states(ckpt, layers, **kw):
    return token_states(TEXTS, NUM_ITEMS, str(ckpt), layers, cache=kw.pop("cache", False), **kw)


def text_model(tower, layers=1, refresh=None, **kw):
    cfg = ModelConfig(name="text_gnn", dim=8, num_layers=1, text_tower=tower,
                      text_layers=layers, text_refresh_rows=refresh, **kw)
    return build_model(cfg, NUM_USERS, NUM_ITEMS)


def lm_vectors(model, variables, features):
    out = model.apply(variables, features, method=model.encode_text)
    return np.concatenate([out.item_text, out.user_text])


def flat(tree):
    return traverse_util.flatten_dict(tree, sep="/")


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_cached_lower_layers_give_the_full_encoders_vectors(ckpt, encoder, graph, tmp_path,
                                                            layers):
    full, _ = encoder.encode(TEXTS)
    st = states(ckpt, layers, cache=tmp_path)
    assert st.cut == 2 - layers and st.num_rows > 3  # several rows: subsets are meaningful
    again = states(ckpt, layers, cache=tmp_path)  # read back from the on-disk cache
    assert len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(np.asarray(again.hidden), np.asarray(st.hidden))
    model = text_model("top_k", layers)
    features = Features(text_tokens=st)
    variables = init_variables(model, jax.random.key(0), graph, features)
    np.testing.assert_allclose(lm_vectors(model, variables, features), full, atol=2e-6)


def test_lora_with_zero_b_is_the_frozen_model_at_step_0(ckpt, encoder, graph):
    full, _ = encoder.encode(TEXTS)
    frozen = text_model("frozen")
    frozen_features = Features(jnp.asarray(full[:NUM_ITEMS]), jnp.asarray(full[NUM_ITEMS:]))
    want = frozen.apply(frozen.init(jax.random.key(0), graph, frozen_features), graph,
                        frozen_features)
    lora = text_model("lora", layers=2, lora_rank=4)
    features = Features(text_tokens=states(ckpt, 2))
    variables = init_variables(lora, jax.random.key(0), graph, features)
    adapters = {k: v for k, v in flat(variables["params"]).items() if "lora_" in k}
    assert len(adapters) == 2 * 6 * 2  # A and B on q, k, v, attention out, FFN in, FFN out
    assert all(not np.any(v) for k, v in adapters.items() if k.endswith("lora_b"))
    assert all(np.any(v) for k, v in adapters.items() if k.endswith("lora_a"))
    got = lora.apply(variables, graph, features)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)


def _steps(model, features, graph, batch, cfg, n):
    variables = init_variables(model, jax.random.key(0), graph, features)
    tx = make_optimizer(cfg, 10, model.frozen_patterns)
    state = TrainState.create(variables, tx, jax.random.key(1))
    before = jax.tree_util.tree_map(np.array, variables)
    # Compiled once: the row subset is drawn inside the step, with a static size.
    chex.clear_trace_counter()
    step = jax.jit(chex.assert_max_traces(make_train_step(model, cfg, tx).__wrapped__, n=1),
                   donate_argnums=0)
    for _ in range(n):
        state, metrics = step(state, graph, batch, features)
        assert np.isfinite(float(metrics["loss"]))
    return before, jax.tree_util.tree_map(np.array, state.params)


@pytest.mark.parametrize("tower", ["top_k", "lora"])
def test_a_step_moves_exactly_the_trainable_bert_parameters(ckpt, graph, batch, tower):
    model = text_model(tower, layers=2, refresh=3, lora_rank=4)
    features = Features(text_tokens=states(ckpt, 2))
    # Two steps: LoRA's A gets no gradient while B is still zero.
    before, after = _steps(model, features, graph, batch, TrainConfig(learning_rate=0.01), 2)
    before, after = flat(before), flat(after)
    bert = [k for k in before if k.startswith("params/text/encoder/")]
    assert len(bert) == 2 * 16 + (2 * 6 * 2 if tower == "lora" else 0)
    for k in bert:
        trainable = tower == "top_k" or k.rsplit("/", 1)[1].startswith("lora_")
        if trainable:
            assert not np.array_equal(before[k], after[k]), k
        else:
            assert before[k].tobytes() == after[k].tobytes(), k
    for k in ("params/text/pool/query", "params/text/out/kernel", "params/id/item/embedding"):
        assert not np.array_equal(before[k], after[k]), k


def test_text_learning_rate_is_the_berts_own(ckpt, graph, batch):
    model = text_model("top_k", layers=1)
    features = Features(text_tokens=states(ckpt, 1))
    cfg = TrainConfig(learning_rate=1e-2, text_learning_rate=1e-5)
    before, after = _steps(model, features, graph, batch, cfg, 1)
    before, after = flat(before), flat(after)
    delta = {k: float(np.abs(after[k] - before[k]).max()) for k in before}
    # Adam's first step moves each parameter by at most its learning rate (|m / sqrt(v)| <= 1),
    # plus float32 rounding of parameters of size ~1 (an ulp is 1.2e-7).
    bert = [v for k, v in delta.items() if k.startswith("params/text/encoder/")]
    rest = [v for k, v in delta.items() if k.startswith(("params/id/", "params/text/out/"))]
    assert 0.9e-5 < max(bert) <= 1e-5 + 3e-7
    assert 0.9e-2 < max(rest) <= 1e-2 + 3e-7


def _grads(model, variables, graph, batch, features):
    def loss(p):
        total, (parts, updates) = loss_and_updates(model, TrainConfig(), p, graph, batch,
                                                   features, jax.random.key(5))
        return total, updates

    return jax.jit(jax.value_and_grad(loss, has_aux=True))(variables)


def test_refreshing_every_row_equals_the_exact_path(ckpt, graph, batch):
    features = Features(text_tokens=states(ckpt, 1))
    exact = text_model("top_k", 1)
    banked = text_model("top_k", 1, refresh=features.text_tokens.num_rows)
    v_exact = init_variables(exact, jax.random.key(0), graph, features)
    v_bank = init_variables(banked, jax.random.key(0), graph, features)
    chex.assert_trees_all_equal(v_exact["params"], v_bank["params"])
    (l1, u1), g1 = _grads(exact, v_exact, graph, batch, features)
    # A stale bank must not matter when every row is re-encoded.
    v_bank = {**v_bank, "text_bank": {"text": {"vectors": jnp.zeros_like(
        v_bank["text_bank"]["text"]["vectors"])}}}
    (l2, u2), g2 = _grads(banked, v_bank, graph, batch, features)
    assert u1 == {} and float(l1) == pytest.approx(float(l2), rel=1e-6)
    chex.assert_trees_all_close(g1["params"], g2["params"], atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(u2["text_bank"]["text"]["vectors"],
                               lm_vectors(exact, v_exact, features), atol=1e-6)


def test_remat_changes_no_gradient_and_bfloat16_stays_close(ckpt, graph, batch):
    features = Features(text_tokens=states(ckpt, 2))
    plain, remat = text_model("top_k", 2), text_model("top_k", 2, text_remat=True)
    variables = init_variables(plain, jax.random.key(0), graph, features)
    (l1, _), g1 = _grads(plain, variables, graph, batch, features)
    (l2, _), g2 = _grads(remat, variables, graph, batch, features)
    assert float(l1) == pytest.approx(float(l2), rel=1e-6)
    chex.assert_trees_all_close(g1, g2, atol=1e-6, rtol=1e-5)
    half = Features(text_tokens=states(ckpt, 2, dtype="bfloat16"))
    np.testing.assert_allclose(lm_vectors(plain, variables, half),
                               lm_vectors(plain, variables, features), atol=0.05)


def test_a_subset_refresh_reads_the_rest_from_the_bank(ckpt, graph):
    st = states(ckpt, 1)
    model = text_model("top_k", 1, refresh=2)
    features = Features(text_tokens=st)
    variables = init_variables(model, jax.random.key(0), graph, features)
    exact = lm_vectors(model, variables, features)
    np.testing.assert_allclose(variables["text_bank"]["text"]["vectors"], exact, atol=1e-6)
    stale = {**variables, "text_bank": {"text": {"vectors": jnp.full_like(exact, 7.0)}}}

    @jax.jit
    def encode(p):
        return model.apply(p, features, True, method=model.encode_text,
                           rngs={"text": jax.random.key(3)}, mutable=["text_bank"])

    out, bank = encode(stale)
    got = np.concatenate([out.item_text, out.user_text])
    fresh = ~np.all(got == 7.0, axis=1)
    texts_per_row = (np.asarray(st.text_ids) >= 0).sum(1)
    assert fresh.sum() in {int(texts_per_row[list(r)].sum()) for r in
                           [(i, j) for i in range(st.num_rows) for j in range(st.num_rows) if
                            i != j]}
    np.testing.assert_allclose(got[fresh], exact[fresh], atol=1e-6)
    np.testing.assert_array_equal(bank["text_bank"]["text"]["vectors"], got)
    # Gradient reaches the encoder only through the re-encoded texts.
    stale_ids = np.flatnonzero(~fresh)

    def stale_sum(p):
        o, _ = encode(p)
        return jnp.concatenate([o.item_text, o.user_text])[stale_ids].sum()

    g = jax.grad(stale_sum)(stale)
    assert all(not np.any(v) for v in jax.tree_util.tree_leaves(g["params"]["text"]))


def e2e_config(ckpt, epochs):
    return ExperimentConfig(
        data=DataConfig(name="synthetic", synthetic=SyntheticConfig(
            num_users=30, num_items=40, num_interactions=600, seed=2),
            split=SplitConfig(seed=2)),
        text=TextConfig(checkpoint=str(ckpt), cache=False,
                        item_template="{title}. {description}", user_template="{text}"),
        model=ModelConfig(name="text_gnn", dim=8, num_layers=1, text_tower="top_k",
                          text_layers=1, text_refresh_rows=3),
        train=TrainConfig(batch_size=256, epochs=epochs, learning_rate=0.01,
                          text_learning_rate=0.01, select_metric="ndcg@5"),
        eval=EvalConfig(ks=(5,), metrics=("ndcg",)),
        run=RunConfig(checkpoint_every=1, plot=False))


def test_checkpoint_resume_and_serving_use_the_fine_tuned_encoder(ckpt, encoder, tmp_path):
    from recjax.experiment import prepare, train_run
    from recjax.recommend import Serving
    from recjax.train.checkpoint import Checkpointer
    from recjax.train.loop import fit

    cfg = e2e_config(ckpt, 2)
    result, prepared = train_run(cfg, tmp_path / "run")
    # Interrupted after epoch 1, resumed to 2: the same parameters, bank included.
    p = prepare(cfg, progress=False)
    for epochs in (1, 2):
        c = Checkpointer(tmp_path / "ckpt")
        resumed = fit(p.model, p.graph, p.features, p.split, e2e_config(ckpt, epochs).train,
                      cfg.eval, progress=False, checkpointer=c, checkpoint_every=1)
        c.close()
    chex.assert_trees_all_equal(resumed.params, result.params)

    serving = Serving.from_run(tmp_path / "run")
    chex.assert_trees_all_equal(serving.params["params"], result.params["params"])
    tuned = serving.params["params"]["text"]
    pretrained = encoder.params["params"]["layer_1"]
    assert not np.allclose(tuned["encoder"]["layer_1"]["output"]["kernel"],
                           pretrained["output"]["kernel"])
    # A new user's text through the fine-tuned encoder, by hand: the full BERT with its top
    # layer swapped for the trained one, then the trained attention pooling.
    text = "i like travel and photography"
    ids = jnp.asarray(encoder.tokenizer([text]).ids[0])[None]
    mask = jnp.ones_like(ids)
    bert = {"params": {**encoder.params["params"], "layer_1": tuned["encoder"]["layer_1"]}}
    h = encoder.module.apply(bert, ids, mask)
    query = tuned["pool"]["query"]
    logits = h @ query / np.sqrt(h.shape[-1])
    want = pool_segments(h, mask, jnp.arange(ids.shape[1])[None], 1, "mean", True, logits)[:, 0]
    got = serving._encode([text])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not np.allclose(got, encoder.encode([text])[0], atol=1e-4)
    recs = serving.for_text(text, 5)
    assert len(recs) == 5 and all(np.isfinite(r.score) for r in recs)
    # run.json: the BERT's trained top layer and pooling vs its cached (frozen) lower part.
    counts = json.loads((tmp_path / "run" / "run.json").read_text())["parameters"]["text"]
    size = lambda t: sum(np.size(x) for x in jax.tree_util.tree_leaves(t))
    assert counts["trainable"] == size(tuned)
    bert_total = size(encoder.params)
    assert counts["frozen"] == bert_total - size(pretrained)
    assert prepared.features.text_tokens.lower_parameter_count == bert_total - size(pretrained)


def test_lora_dense_is_the_merged_kernel_at_any_b():
    """With a non-zero B the adapter adds (alpha / r) A B to the kernel: checks the scale and
    which factor is which, which a zero B cannot."""
    from recjax.text.bert import LoraDense

    layer = LoraDense(features=5, rank=2, alpha=8.0)
    x = jax.random.normal(jax.random.key(1), (3, 4))
    variables = layer.init(jax.random.key(0), x)
    p = dict(variables["params"])
    p["lora_b"] = jax.random.normal(jax.random.key(2), p["lora_b"].shape)
    p["bias"] = jax.random.normal(jax.random.key(3), p["bias"].shape)
    got = layer.apply({"params": p}, x)
    merged = np.asarray(p["kernel"]) + 8.0 / 2 * np.asarray(p["lora_a"]) @ np.asarray(p["lora_b"])
    np.testing.assert_allclose(got, np.asarray(x) @ merged + np.asarray(p["bias"]), rtol=1e-5,
                               atol=1e-6)


def test_a_vectorised_sweep_refuses_an_end_to_end_tower(ckpt, graph):
    from recjax.train.sweep import fit_vectorized
    from recjax.types import Split

    model = text_model("top_k")
    features = Features(text_tokens=states(ckpt, 1))
    # The refusal comes before anything reads the split.
    with pytest.raises(ValueError, match="cannot be trained in a vectorised sweep"):
        fit_vectorized(model, graph, features, Split(None, None, None),
                       TrainConfig(epochs=1), {"seed": [0, 1]})


def test_attention_pooling_never_underflows_a_segment():
    """Each segment's softmax is shifted by its own maximum: a segment whose logits sit far
    below its neighbour's in the same packed row keeps its vector."""
    hidden = jax.random.normal(jax.random.key(0), (1, 4, 3))
    segments = jnp.array([[1, 1, 2, 2]])
    positions = jnp.array([[0, 1, 0, 1]])
    logits = jnp.array([[0.0, 0.5, -200.0, -199.0]])
    got = pool_segments(hidden, segments, positions, 2, normalize=False, logits=logits)
    for s, (lo, hi) in enumerate([(0, 2), (2, 4)]):
        w = jax.nn.softmax(logits[0, lo:hi])
        np.testing.assert_allclose(got[0, s], w @ hidden[0, lo:hi], rtol=1e-5)


def test_gradient_clipping_is_global_over_the_trained_groups():
    """One global norm over the BERT group and the rest together (frozen leaves left out):
    grads (3, 4) clipped to norm 1 are (0.6, 0.8), not (1, 1) as per-group clipping gives."""
    cfg = TrainConfig(optimizer="sgd", learning_rate=1.0, text_learning_rate=1.0,
                      grad_clip=1.0, freeze=("^params/fixed/",))
    params = {"params": {"text": {"encoder": {"w": jnp.zeros(1)}}, "id": {"w": jnp.zeros(1)},
                         "fixed": {"w": jnp.zeros(1)}}}
    grads = {"params": {"text": {"encoder": {"w": jnp.array([3.0])}},
                        "id": {"w": jnp.array([4.0])}, "fixed": {"w": jnp.array([100.0])}}}
    tx = make_optimizer(cfg, 10)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["params"]["text"]["encoder"]["w"], [-0.6], rtol=1e-6)
    np.testing.assert_allclose(updates["params"]["id"]["w"], [-0.8], rtol=1e-6)
    np.testing.assert_array_equal(updates["params"]["fixed"]["w"], [0.0])
