"""No network at run time: switch off the telemetry and downloads of the libraries we use.

Imported first by ``riskaudit/__init__.py``. Only sets variables the user has not set.
"""

import os

OFFLINE_ENV = {
    # great-expectations sends usage analytics unless told not to.
    "GX_ANALYTICS_ENABLED": "false",
    # Hugging Face libraries (pulled in by alibi-detect): never reach a hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # tqdm progress bars of the libraries do not reach the user's terminal.
    "TQDM_DISABLE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def apply() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


apply()
