"""Translation to English with argostranslate packages on CTranslate2.

Public interface used by the pipeline: package management (``list_installed``,
``install_package_file``, ``install_from_index``, ``remove_package``), the batched
``TranslationEngine`` and the ``TranslationMemory`` protocol. Importing this package loads no
model and touches no network; CTranslate2 is imported at first translation.
"""

from ingest.translate.engine import (
    DEFAULT_BEAM_SIZE,
    DEFAULT_MAX_BATCH_SIZE,
    ModelError,
    TranslationBatch,
    TranslationEngine,
    available_cores,
    loaded_model_count,
    unload_models,
)
from ingest.translate.memory import InMemoryTranslationMemory, TranslationMemory
from ingest.translate.packages import (
    AvailablePackage,
    IndexUnavailableError,
    NoPackageError,
    PackageError,
    PackageInfo,
    PackageNotInstalledError,
    argos_packages_dir,
    check_package_dirs,
    default_index_url,
    default_package_dirs,
    find_available,
    install_from_index,
    install_package_file,
    list_installed,
    load_index,
    read_package,
    remove_package,
)
from ingest.translate.splitter import ArgosSentencizer, SentenceSplitter

__all__ = [
    "DEFAULT_BEAM_SIZE",
    "DEFAULT_MAX_BATCH_SIZE",
    "ArgosSentencizer",
    "AvailablePackage",
    "InMemoryTranslationMemory",
    "IndexUnavailableError",
    "ModelError",
    "NoPackageError",
    "PackageError",
    "PackageInfo",
    "PackageNotInstalledError",
    "SentenceSplitter",
    "TranslationBatch",
    "TranslationEngine",
    "TranslationMemory",
    "argos_packages_dir",
    "available_cores",
    "check_package_dirs",
    "default_index_url",
    "default_package_dirs",
    "find_available",
    "install_from_index",
    "install_package_file",
    "list_installed",
    "load_index",
    "loaded_model_count",
    "read_package",
    "remove_package",
    "unload_models",
]
