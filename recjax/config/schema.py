"""Frozen, typed configs for every component.

Library functions take the narrowest of these they need. The Hydra entrypoints compose YAML
from ``conf/`` and convert it once into these classes (see :mod:`recjax.config.hydra`), so a
misspelt key or a wrong type fails at composition, not deep inside training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recjax.config.data import (  # noqa: F401  (the data configs, re-exported)
    DEFAULT_NA_VALUES,
    CleanConfig,
    CsvConfig,
    DataConfig,
    SplitConfig,
    SyntheticConfig,
)


@dataclass(frozen=True)
class TextConfig:
    """Text features (see :mod:`recjax.text`): which checkpoint encodes which template.

    ``checkpoint`` is a registry name or a local Hugging Face BERT directory (e.g. a Chinese or
    multilingual BERT on disk). Templates use the syntax of :mod:`recjax.text.templates`.
    """

    checkpoint: str = "all-MiniLM-L6-v2"
    item_template: str = "{title}[ ({year})][. {genres}][. {description}]"
    user_template: str = "[{text}][ | age {age}][ | gender {gender}][ | occupation {occupation}]"
    max_length: int | None = None
    pooling: str = "mean"
    normalize: bool = True
    dtype: str = "float32"
    batch_tokens: int = 1024
    packing: bool = True
    pack_widths: tuple[int, ...] = (64, 128, 256)
    cache: bool = True

    def __post_init__(self):
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"text.pooling={self.pooling!r}; expected mean or cls")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"text.dtype={self.dtype!r}; expected float32 or bfloat16")


@dataclass(frozen=True)
class ModelConfig:
    """A recommender from :data:`recjax.models.MODELS` (or any registered backbone); fields a
    model does not use are ignored. Fields left at ``None`` take the model's own default (its
    backbone's ``defaults``, see :mod:`recjax.models.backbones`), so ``ModelConfig(name="ngcf")``
    in Python and ``model=ngcf`` in Hydra build the same model.

    name: mf | lightgcn | ngcf | gcn | gat | simgcl | xsimgcl | text_gnn | pop | itemknn |
      ease, or any other registered backbone.
    init: ID embedding initialiser: ``normal`` (std ``init_std``), or ``xavier_uniform`` /
      ``xavier_normal`` per table (RecBole's choices; ``init_std`` is then unused).
    combine: how layer outputs become the final embedding: ``mean`` (LightGCN), ``learned``
      (softmax-weighted layers), ``concat`` (NGCF), ``last``, ``propagated_mean`` (layers
      1..K, SimGCL).
    propagation: ``sparse`` (CSR product, fast), ``segment`` (jraph gather/scatter) or
      ``edge_sharded`` (edges split over the devices of the ``data`` axis, then summed).
    relation: edge types for the graph (``none``, ``behavior``, ``rating``);
      ``relation_weights`` learns one weight per type on the propagation (relation-aware).
    semantic_neighbors (text models): > 0 adds the text kNN graph (each item's that many most
      cosine-similar items by text vector) as item-item edges of one more relation; 0 = off.
    fusion (text_gnn): ``add`` | ``concat`` | ``gate`` of ID embeddings and projected text;
      ``inductive`` drops ID embeddings so unseen users/items are embedded from text alone.
    backbone (text_gnn): the propagation of the fused inputs (any registered backbone).
    noise_eps, cl_weight, cl_temperature, cl_layer (simgcl, xsimgcl): the perturbation size,
      the weight and temperature of the InfoNCE term between views, XSimGCL's view layer.
    align_weight (text_gnn with ID embeddings): the weight of an InfoNCE term aligning each
      node's final embedding with its projected text (RLMRec's contrastive alignment), at
      ``cl_temperature`` (0.2 when unset); 0 is off.
    knn_neighbors, knn_shrink (itemknn): neighbours kept per item and cosine shrinkage.
    ease_l2 (ease): the L2 weight of the closed-form item-item model.
    compute_dtype: ``bfloat16`` runs messages and layer maths in bfloat16 (for accelerators:
      half the memory traffic) while parameters, layer outputs and scores stay float32.
    text_tower (text_gnn): ``frozen`` (the text config's cached LM vectors, projected),
      ``top_k`` (the model holds the top ``text_layers`` BERT layers and an attention pooling
      and trains them) or ``lora`` (those layers frozen, rank-``lora_rank`` adapters with
      scale ``lora_alpha / lora_rank`` on their attention and FFN trained). The layers below
      are run once and their hidden states cached (:mod:`recjax.text.tokens`);
      ``text_layers: 0`` trains only the pooling. The BERT computes in ``text.dtype``.
    text_refresh_rows (top_k, lora): ``null`` re-encodes every text in every step (exact);
      ``n`` re-encodes n random packed rows (a few texts each) per step and takes the other
      texts' vectors from a memory bank of their latest encodings (what keeps a CPU epoch
      affordable). Evaluation and serving always encode every text with the current weights.
    text_remat: recompute BERT activations in the backward pass (``jax.checkpoint``).
    """

    name: str = "lightgcn"
    dim: int = 64
    num_layers: int | None = None
    combine: str | None = None
    propagation: str = "sparse"
    dropout: float | None = None
    heads: int = 2
    relation: str = "none"
    relation_weights: bool = False
    semantic_neighbors: int = 0
    fusion: str = "add"
    inductive: bool = False
    text_hidden: int = 0
    backbone: str = "lightgcn"
    init: str = "normal"
    init_std: float = 0.05
    noise_eps: float | None = None
    cl_weight: float | None = None
    cl_temperature: float | None = None
    cl_layer: int | None = None
    align_weight: float | None = None
    knn_neighbors: int = 100
    knn_shrink: float = 0.0
    ease_l2: float = 250.0
    compute_dtype: str = "float32"
    text_tower: str = "frozen"
    text_layers: int = 1
    lora_rank: int = 8
    lora_alpha: float = 16.0
    text_refresh_rows: int | None = None
    text_remat: bool = False

    def __post_init__(self):
        checks = {"text_tower": (self.text_tower, ("frozen", "top_k", "lora")),
                  "combine": (self.combine, (None, "mean", "learned", "concat", "last",
                                             "propagated_mean")),
                  "propagation": (self.propagation, ("sparse", "segment", "edge_sharded")),
                  "relation": (self.relation, ("none", "behavior", "rating")),
                  "fusion": (self.fusion, ("add", "concat", "gate")),
                  "init": (self.init, ("normal", "xavier_uniform", "xavier_normal")),
                  "compute_dtype": (self.compute_dtype, ("float32", "bfloat16"))}
        for key, (value, valid) in checks.items():
            if value not in valid:
                raise ValueError(f"model.{key}={value!r}; expected one of {valid}")
        if self.dim < 1 or (self.num_layers or 0) < 0 or not 0 <= (self.dropout or 0) < 1:
            raise ValueError("model.dim must be >= 1, num_layers >= 0, 0 <= dropout < 1")
        if self.dim % self.heads:
            raise ValueError(f"model.dim={self.dim} is not divisible by heads={self.heads}")
        if self.cl_temperature is not None and self.cl_temperature <= 0:
            raise ValueError(f"model.cl_temperature={self.cl_temperature} must be > 0")
        if self.align_weight is not None and self.align_weight < 0:
            raise ValueError(f"model.align_weight={self.align_weight} must be >= 0")
        if self.semantic_neighbors < 0:
            raise ValueError(f"model.semantic_neighbors={self.semantic_neighbors} must be >= 0")
        if self.knn_neighbors < 1 or self.knn_shrink < 0 or self.ease_l2 < 0:
            raise ValueError("model.knn_neighbors must be >= 1, knn_shrink and ease_l2 >= 0")
        if self.text_layers < 0 or self.lora_rank < 1 or self.lora_alpha <= 0:
            raise ValueError("model.text_layers must be >= 0, lora_rank >= 1, lora_alpha > 0")
        if self.text_refresh_rows is not None and self.text_refresh_rows < 1:
            raise ValueError(f"model.text_refresh_rows={self.text_refresh_rows} must be >= 1 "
                             f"(null re-encodes every text every step)")
        if self.text_tower == "lora" and self.text_layers == 0:
            raise ValueError("model.text_tower=lora adapts the top text_layers layers; "
                             "text_layers=0 leaves none (use top_k for pooling only)")


@dataclass(frozen=True)
class TrainConfig:
    """Training (see :mod:`recjax.train`). Defaults are RecBole's protocol (BPR with one
    uniform negative, train positives rejected, Adam 1e-3, batch 2048, patience 10).

    loss: a registered objective (:data:`recjax.train.objectives.OBJECTIVES`): ``bpr`` (one
      sampled negative per positive), ``softmax`` (sampled softmax / InfoNCE over
      ``num_negatives`` sampled negatives — per row, or one set for the whole batch with
      ``shared_negatives`` — and, with ``in_batch_negatives``, the batch's other positives,
      at ``temperature``), ``directau`` (alignment + ``uniformity_weight`` x uniformity, no
      negatives) or ``bce`` (rating classification: does the user like the item, rating >=
      ``like_threshold``).
    reg_weight: L2 on the batch's layer-0 ID embeddings (LightGCN's regulariser).
    reg_form: ``squared`` (``sum ||e||^2 / 2`` per row, LightGCN's paper and code) or
      ``norm`` (RecBole's ``EmbLoss``: each batch table's un-squared Frobenius norm, per
      row; its gradient does not grow with the embeddings).
    reject_positives: resample negatives that are train positives of the user.
    negatives: the items negatives are drawn from: ``all`` (the catalogue), ``warm`` (items
      with train interactions), ``auto`` (warm in cold-item splits, where held-out items must
      receive no gradient and stay unseen, else all).
    negative_sampler: ``uniform`` or ``popularity`` (in proportion to train degree).
    logq_correction (softmax): subtract each candidate's log sampling probability from its
      logit (Yi et al. 2019); a constant, so no change, under uniform sampling.
    cold_user_dropout / cold_item_dropout: the share of batch rows whose user / items are
      scored with their edge-free, ID-free embeddings (``Recommender.isolated``), as a new
      user or item would be (DropoutNet's idea, on the graph). A dropped item row is cold on
      both sides: its positive and its negatives come from the edge-free table, so the row
      teaches ranking cold items among themselves (against propagated negatives a model
      could win by telling edge-free from propagated). The price: nothing trains edge-free
      items against propagated ones, as a ranking that mixes new and known items would need
      (not measured). With ``in_batch_negatives`` each row's in-batch negatives come from its
      own kind of rows. For an ID-only model every edge-free embedding is zero, so dropped
      rows give a constant loss and no gradient (bce: only to its offset). Not with
      ``loss=directau`` (its uniformity is not a per-row mean).
    select_on: ``valid`` (model selection on validation) or ``legacy_test`` (selects on test
      as the original LightGCN code does; only for reproducing published tables).
    freeze: regexes over parameter paths (``params/graph/W1_0/kernel``) that get no updates.
    text_learning_rate: the learning rate of the BERT inside an end-to-end text tower
      (``params/text/encoder/...`` and ``params/text/pool/...``, its own optimiser state via
      ``optax.multi_transform``); null uses ``learning_rate``.
    """

    loss: str = "bpr"
    num_negatives: int = 1
    shared_negatives: bool = False
    in_batch_negatives: bool = False
    temperature: float = 0.1
    uniformity_weight: float = 1.0
    reject_positives: bool = True
    negatives: str = "auto"
    negative_sampler: str = "uniform"
    logq_correction: bool = False
    cold_user_dropout: float = 0.0
    cold_item_dropout: float = 0.0
    reg_weight: float = 1e-5
    reg_form: str = "squared"
    like_threshold: float = 4.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    grad_clip: float = 0.0
    freeze: tuple[str, ...] = ()
    text_learning_rate: float | None = None
    batch_size: int = 2048
    epochs: int = 300
    patience: int = 10
    eval_every: int = 1
    select_metric: str = "ndcg@10"
    select_on: str = "valid"
    seed: int = 2020

    def __post_init__(self):
        checks = {"optimizer": (self.optimizer, ("adam", "adamw", "sgd", "adagrad")),
                  "schedule": (self.schedule, ("constant", "cosine", "warmup_cosine")),
                  "negatives": (self.negatives, ("auto", "all", "warm")),
                  "negative_sampler": (self.negative_sampler, ("uniform", "popularity")),
                  "select_on": (self.select_on, ("valid", "legacy_test")),
                  "reg_form": (self.reg_form, ("squared", "norm"))}
        for key, (value, valid) in checks.items():
            if value not in valid:
                raise ValueError(f"train.{key}={value!r}; expected one of {valid}")
        if self.batch_size < 1 or self.epochs < 1 or self.num_negatives < 1:
            raise ValueError("train.batch_size, epochs and num_negatives must be >= 1")
        if self.text_learning_rate is not None and not self.text_learning_rate > 0:
            raise ValueError(f"train.text_learning_rate={self.text_learning_rate} must be > 0")
        if not self.temperature > 0:
            raise ValueError(f"train.temperature={self.temperature} must be > 0 (scores are "
                             f"divided by it)")
        if self.loss == "directau" and self.cold_item_dropout:
            raise ValueError("train.cold_item_dropout does not combine with loss=directau: the "
                             "dropped rows are scored apart, and uniformity is not a mean "
                             "over rows (set cold_item_dropout=0)")
        for key in ("cold_user_dropout", "cold_item_dropout"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"train.{key} must be in [0, 1)")


@dataclass(frozen=True)
class EvalConfig:
    """Full-ranking evaluation: metrics at each K, users scored ``chunk_size`` at a time."""

    ks: tuple[int, ...] = (5, 10, 20, 50)
    metrics: tuple[str, ...] = ("recall", "ndcg", "mrr", "hit", "precision")
    chunk_size: int = 256


@dataclass(frozen=True)
class ParallelConfig:
    """Devices and threads (see :mod:`recjax.train.parallel`).

    devices: devices to train on (1 = one device, 0 = all); with more than one, batches are
      split over a ``data`` mesh axis of ``devices / model`` devices.
    model: size of the ``model`` mesh axis; with ``shard_embeddings`` the ID tables are
      row-sharded over it (catalogues too large for one device).
    distributed: call ``jax.distributed.initialize`` first (multi-host: TPU pods, several GPU
      hosts); ``coordinator_address``/``num_processes``/``process_id`` where JAX cannot
      discover them.
    cpu_threads: pin this process to that many cores (0 = all); set before JAX starts, so
      parallel sweep jobs on one machine do not oversubscribe it.
    preallocate: let JAX grab most GPU memory up front (off for several jobs per GPU).
    """

    devices: int = 1
    model: int = 1
    shard_embeddings: bool = False
    distributed: bool = False
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    cpu_threads: int = 0
    preallocate: bool = True


@dataclass(frozen=True)
class VectorizeConfig:
    """Values to train side by side in one program (``recjax.train.sweep``); the non-empty
    lists must have equal lengths."""

    seed: tuple[int, ...] = ()
    learning_rate: tuple[float, ...] = ()
    weight_decay: tuple[float, ...] = ()
    temperature: tuple[float, ...] = ()
    reg_weight: tuple[float, ...] = ()


@dataclass(frozen=True)
class SweepConfig:
    vectorize: VectorizeConfig = field(default_factory=VectorizeConfig)


@dataclass(frozen=True)
class RunConfig:
    """The run itself: a name, checkpoint cadence, what to print and draw.

    loggers: per-epoch metrics also sent to ``tensorboard`` (tensorboardX, under
      ``<run>/tensorboard``) and/or ``wandb`` (offline unless ``WANDB_MODE`` says otherwise;
      ``project`` names the W&B project); both need ``pip install 'recjax[logging]'``.
    """

    name: str = "run"
    checkpoint_every: int = 10
    progress: bool | None = None
    plot: bool = True
    show_recommendations: int = 0
    loggers: tuple[str, ...] = ()
    project: str = "recjax"


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one training run needs; composed by Hydra from ``conf/``."""

    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    run: RunConfig = field(default_factory=RunConfig)
