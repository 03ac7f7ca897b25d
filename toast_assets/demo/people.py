"""Names of staff and guests, with the non-ASCII spellings real exports carry."""

import unicodedata
from functools import cache

FIRST_NAMES: tuple[str, ...] = (
    "José", "Zoë", "Renée", "Chloé", "Björn", "André", "Noémie", "Joaquín", "Siobhán", "Inés",
    "Maria", "James", "Aisha", "Marcus", "Priya", "Daniel", "Keisha", "Tyler", "Mei", "Omar",
    "Hannah", "Luis", "Grace", "Dmitri", "Fatima", "Kevin", "Sofia", "Jamal", "Emily", "Hiro",
    "Olivia", "Carlos", "Nadia", "Ethan", "Leah", "Diego", "Amara", "Sean", "Yuki", "Rosa",
)

LAST_NAMES: tuple[str, ...] = (
    "García", "Nguyen", "Smith", "O'Brien", "Muñoz", "Johnson", "Kowalski", "Pérez", "Lee", "Brown",
    "Okafor", "Schäfer", "Williams", "Patel", "Rossi", "Kim", "Hernández", "Davis", "Novak", "Cohen",
    "Martin", "Dubois", "Clark", "Silva", "Jones", "Ødegaard", "Taylor", "Moreau", "Walker", "Chen",
)


@cache
def ascii_fold(text: str) -> str:
    """`Crème Brûlée` -> `Creme Brulee`: the clean (trap-free) spelling of a name."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Letters without a decomposition (Ø, ß) are mapped by hand so nothing is dropped.
    return folded.translate(str.maketrans({"Ø": "O", "ø": "o", "ß": "ss", "Æ": "AE", "æ": "ae"}))


@cache
def full_name(first_index: int, last_index: int, ascii_only: bool = False) -> str:
    """`First Last`, as Toast prints servers and employees."""
    name = f"{FIRST_NAMES[first_index % len(FIRST_NAMES)]} {LAST_NAMES[last_index % len(LAST_NAMES)]}"
    return ascii_fold(name) if ascii_only else name


@cache
def tab_name(first_index: int, last_index: int, with_comma: bool) -> str:
    """A bar tab name: `García, José` (a quoted comma in the file) or the clean `Jose G`."""
    first = FIRST_NAMES[first_index % len(FIRST_NAMES)]
    last = LAST_NAMES[last_index % len(LAST_NAMES)]
    if with_comma:
        return f"{last}, {first}"
    return ascii_fold(f"{first} {last[0]}")
