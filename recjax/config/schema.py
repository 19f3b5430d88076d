"""Frozen, typed configs for every component.

Library functions take the narrowest of these they need. The Hydra entrypoints compose YAML
from ``conf/`` and convert it once into these classes (see :mod:`recjax.config.hydra`), so a
misspelt key or a wrong type fails at composition, not deep inside training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Values read as "missing" in id, numeric and side-information cells. "unkonwn" is the spelling
# RecBole's ml-100k.item uses for the one movie without title or year.
DEFAULT_NA_VALUES = ("", "nan", "NaN", "NA", "N/A", "null", "NULL", "None", "unknown", "unkonwn")


@dataclass(frozen=True)
class CleanConfig:
    """Cleaning, applied in this order (see :func:`recjax.data.clean.clean`):

    1. ``invalid``: rows with a missing user/item id or a rating/timestamp that is not a finite
       number are dropped and counted per reason (``on_invalid="raise"`` stops instead).
    2. ``duplicates``: one row per (user, item, behaviour); ``dedup`` keeps the ``first`` or
       ``last`` by timestamp (file order breaks ties), or the ``max_rating`` row; ``none`` keeps
       all.
    3. ``filter``: ``min_rating`` <= rating <= ``max_rating``; ``behaviors`` keeps only those
       behaviour names.
    4. ``k-core``: users with fewer than ``user_core`` and items with fewer than ``item_core``
       interactions are removed, repeatedly, until nothing changes.
    5. ``side-info``: side rows of unknown ids dropped, missing cells filled (numeric fields with
       the median, text fields with "", categories with "unknown").
    6. ``cold items`` (only with ``keep_cold_items``): every item of the item side file that no
       row of the interaction log names (new products; items whose rows steps 1-4 removed,
       k-core included, stay removed) is kept as a cold item, after the interacting items, so
       their dense ids do not change. Cold items have no edges and no
       trained ID row; a text model ranks them by their text.
    7. ``remap``: dense int32 ids (raw ids sorted numerically when all are integers; cold
       items sorted the same way among themselves, after the interacting ones).

    ``keep_cold_items``: ``None`` means on for models with a text tower and off otherwise,
    decided by :func:`recjax.experiment.prepare` before loading; cleaning itself reads
    ``None`` as off. An ID-only model cannot score an item without edges or text, so
    ``True`` with one is refused.
    """

    dedup: str = "first"
    min_rating: float | None = None
    max_rating: float | None = None
    behaviors: tuple[str, ...] | None = None
    user_core: int = 0
    item_core: int = 0
    on_invalid: str = "drop"
    na_values: tuple[str, ...] = DEFAULT_NA_VALUES
    numeric_fields: tuple[str, ...] = ("year", "age", "release_year")
    text_fields: tuple[str, ...] = ("title", "description", "text", "review", "summary", "name")
    keep_cold_items: bool | None = None

    def __post_init__(self):
        if self.dedup not in ("first", "last", "max_rating", "none"):
            raise ValueError(f"dedup={self.dedup!r}; expected first, last, max_rating or none")
        if self.on_invalid not in ("drop", "raise"):
            raise ValueError(f"on_invalid={self.on_invalid!r}; expected drop or raise")
        if self.user_core < 0 or self.item_core < 0:
            raise ValueError("user_core and item_core must be >= 0")


@dataclass(frozen=True)
class SplitConfig:
    """How to split interactions (see :mod:`recjax.data.split`).

    method: ``random`` (per-user ratio, RecBole's RS), ``temporal`` (per-user by time, RecBole's
    TO), ``global_temporal``, ``loo`` (leave-one-out by time), ``kfold`` (fold ``fold`` of
    ``num_folds``), ``cold_item`` or ``cold_user`` (``cold_fraction`` held out entirely).
    """

    method: str = "random"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 2020
    num_folds: int = 5
    fold: int = 0
    cold_fraction: float = 0.2

    def __post_init__(self):
        methods = ("random", "temporal", "global_temporal", "loo", "kfold", "cold_item",
                   "cold_user")
        if self.method not in methods:
            raise ValueError(f"split method {self.method!r} is unknown; valid: {methods}")
        if len(self.ratios) != 3 or min(self.ratios) < 0 or sum(self.ratios) <= 0:
            raise ValueError(f"ratios must be three non-negative numbers, got {self.ratios}")
        if not 0 <= self.fold < self.num_folds:
            raise ValueError(f"fold {self.fold} is not in [0, num_folds={self.num_folds})")
        if not 0 < self.cold_fraction < 1:
            raise ValueError(f"cold_fraction must be in (0, 1), got {self.cold_fraction}")


@dataclass(frozen=True)
class SyntheticConfig:
    """A seeded synthetic dataset (see :mod:`recjax.data.synthetic`), used when
    ``DataConfig.name == "synthetic"``."""

    num_users: int = 300
    num_items: int = 400
    num_interactions: int = 8000
    num_topics: int = 8
    popularity_exponent: float = 0.8
    behaviors: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class CsvConfig:
    """CSV/TSV files with a header row, read when ``DataConfig.format == "csv"`` (see
    :func:`recjax.data.readers.read_csv_dataset`).

    interactions / items / users: file names relative to ``data.path``; the item and user side
      tables are optional.
    columns / item_columns / user_columns: canonical name -> column of that file's header,
      e.g. ``{user_id: userId, item_id: movieId, rating: stars}``; ``None`` reads every column
      under its header name. Interactions need ``user_id`` and ``item_id`` (and may have
      ``rating``, ``timestamp``, ``behavior``), items ``item_id``, users ``user_id``; other
      columns (``title``, ``description``, ``text``, ...) are side information.
    types: canonical name -> field type (token, token_seq, float, float_seq); by default
      ``rating`` and ``timestamp`` are float and every other column is a token.
    delimiter: one character; ``None`` is a tab for ``.tsv``/``.tab`` files, else a comma.
    """

    interactions: str = "interactions.csv"
    items: str | None = None
    users: str | None = None
    columns: dict[str, str] | None = None
    item_columns: dict[str, str] | None = None
    user_columns: dict[str, str] | None = None
    types: dict[str, str] | None = None
    delimiter: str | None = None

    def __post_init__(self):
        from recjax.types import FIELD_TYPES

        for key in ("columns", "item_columns", "user_columns", "types"):
            mapping = getattr(self, key)
            if mapping is not None and not (
                    isinstance(mapping, dict)
                    and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())):
                raise ValueError(f"data.csv.{key} must map names to names (strings), "
                                 f"got {mapping!r}")
        for key, file_key, needs in (("columns", "interactions", ("user_id", "item_id")),
                                     ("item_columns", "items", ("item_id",)),
                                     ("user_columns", "users", ("user_id",))):
            mapping = getattr(self, key)
            if mapping is None:
                continue
            missing = [c for c in needs if c not in mapping]
            if missing:
                raise ValueError(f"data.csv.{key} must map {missing} to a column of the "
                                 f"{file_key} file; got {mapping}")
            if getattr(self, file_key) is None:
                raise ValueError(f"data.csv.{key} is set but data.csv.{file_key} (the file) "
                                 "is not")
        bad = {k: v for k, v in (self.types or {}).items() if v not in FIELD_TYPES}
        if bad:
            raise ValueError(f"data.csv.types {bad}: field types must be one of {FIELD_TYPES}")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"data.csv.delimiter={self.delimiter!r} must be one character")


@dataclass(frozen=True)
class DataConfig:
    """A dataset by registry name or directory, how its files are read, cleaning and split.

    path: a directory of dataset files instead of the registered dataset ``name``; a relative
      path is looked up in the working directory, then in the recjax checkout (so the shipped
      example configs such as ``conf/data/multilingual.yaml`` work from any directory).
    format: ``auto`` (RecBole atomic ``<name>.inter`` files, else GroupLens ml-100k ``u.data``,
      else ml-1m ``ratings.dat``), ``atomic``, ``movielens`` (ml-100k or ml-1m files) or
      ``csv`` (the files ``csv`` describes, in ``path``).
    """

    FORMATS = ("auto", "atomic", "movielens", "csv")

    name: str = "ml-100k"
    path: str | None = None
    format: str = "auto"
    csv: CsvConfig = field(default_factory=CsvConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    def __post_init__(self):
        if self.format not in self.FORMATS:
            raise ValueError(f"data.format={self.format!r} is unknown; valid: {self.FORMATS}")
        if self.name == "synthetic" and self.format != "auto":
            raise ValueError(f"data.format={self.format!r} reads files, but data.name=synthetic "
                             "generates its data; leave data.format=auto")
        if self.format == "csv" and self.path is None:
            raise ValueError("data.format=csv needs data.path, the directory holding the files "
                             "named in data.csv")
        if self.format != "csv" and self.csv != CsvConfig():
            raise ValueError(f"data.csv describes CSV files but data.format={self.format!r}; "
                             "set data.format=csv")


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
