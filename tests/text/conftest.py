import json
from pathlib import Path

import numpy as np
import pytest

# Copied from ../shared/fixtures (see its README): sentence-transformers 6.2.0 reference
# embeddings of all-MiniLM-L6-v2, made independently of this code.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def reference():
    """The MiniLM reference: sentences, token ids and embeddings."""
    data = json.loads((FIXTURES / "minilm_reference.json").read_text())
    data["embeddings"] = np.load(FIXTURES / "minilm_reference.npz")["embeddings"]
    return data


@pytest.fixture(scope="session")
def minilm():
    from recjax.text.encode import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from tests.text.tiny_checkpoint import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))
