"""The exact linear model of chapter 06 (`model`), its figures (`plots`) and text
(`text`): a self-contained study that imports ``stats`` and ``display`` only."""
