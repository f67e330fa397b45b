"""Composer labels as a musician reads them: display names, eras, a featured short list, name lookup.

A model's composer labels are token names (``bach``, ``vaughan_williams``, ``oneills1850``). This
module gives each a display name ("J. S. Bach"), an era group (``ERAS``) and life dates from one
table (``_KNOWN``, covering the labels of the shared classical corpus and music21's corpus). Any
other label still works: its display name is the label title-cased ("Le Thiere") and its group
"Other". ``resolve_composer`` maps what a person types (a label, a display name, a spelling the data
builder would normalise: "Dvořák", "Haendel", "j.s. bach") to the model's label, so the facade and
the demo accept display names as well as labels; ``suggest`` offers close labels for a misspelling.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from muse.data.labels import normalize_label

EARLY, BAROQUE, CLASSICAL, ROMANTIC, MODERN, COLLECTIONS, OTHER = (
    "Renaissance & earlier", "Baroque", "Classical", "Romantic", "20th century", "Collections & folk", "Other")
ERAS: tuple[str, ...] = (EARLY, BAROQUE, CLASSICAL, ROMANTIC, MODERN, COLLECTIONS, OTHER)

# label -> (display name, era, born, died); 0 for a date not known (collections, mixed labels).
_KNOWN: dict[str, tuple[str, str, int, int]] = {
    # before 1600
    "trecento": ("Trecento songs", EARLY, 1330, 1400),
    "ciconia": ("Johannes Ciconia", EARLY, 1370, 1412),
    "luca": ("Luca (Gloria)", EARLY, 1400, 0),
    "josquin": ("Josquin des Prez", EARLY, 1450, 1521),
    "lusitano": ("Vicente Lusitano", EARLY, 1520, 1561),
    "palestrina": ("Palestrina", EARLY, 1525, 1594),
    "monteverdi": ("Claudio Monteverdi", EARLY, 1567, 1643),
    "maier": ("Michael Maier", EARLY, 1568, 1622),
    # Baroque
    "frescobaldi": ("Girolamo Frescobaldi", BAROQUE, 1583, 1643),
    "buxtehude": ("Dieterich Buxtehude", BAROQUE, 1637, 1707),
    "pachelbel": ("Johann Pachelbel", BAROQUE, 1653, 1706),
    "corelli": ("Arcangelo Corelli", BAROQUE, 1653, 1713),
    "couperin": ("François Couperin", BAROQUE, 1668, 1733),
    "clarke": ("Jeremiah Clarke", BAROQUE, 1674, 1707),
    "vivaldi": ("Antonio Vivaldi", BAROQUE, 1678, 1741),
    "bach": ("J. S. Bach", BAROQUE, 1685, 1750),
    "handel": ("G. F. Handel", BAROQUE, 1685, 1759),
    "scarlatti": ("Domenico Scarlatti", BAROQUE, 1685, 1757),
    "paradisi": ("Pietro Domenico Paradisi", BAROQUE, 1707, 1791),
    # Classical
    "cpebach": ("C. P. E. Bach", CLASSICAL, 1714, 1788),
    "haydn": ("Joseph Haydn", CLASSICAL, 1732, 1809),
    "clementi": ("Muzio Clementi", CLASSICAL, 1752, 1832),
    "mozart": ("W. A. Mozart", CLASSICAL, 1756, 1791),
    "dussek": ("Jan Ladislav Dussek", CLASSICAL, 1760, 1812),
    "mehul": ("Étienne Méhul", CLASSICAL, 1763, 1817),
    "beethoven": ("Ludwig van Beethoven", CLASSICAL, 1770, 1827),
    "cramer": ("J. B. Cramer", CLASSICAL, 1771, 1858),
    "hummel": ("J. N. Hummel", CLASSICAL, 1778, 1837),
    "diabelli": ("Anton Diabelli", CLASSICAL, 1781, 1858),
    "kuhlau": ("Friedrich Kuhlau", CLASSICAL, 1786, 1832),
    # Romantic
    "field": ("John Field", ROMANTIC, 1782, 1837),
    "paganini": ("Niccolò Paganini", ROMANTIC, 1782, 1840),
    "weber": ("Carl Maria von Weber", ROMANTIC, 1786, 1826),
    "czerny": ("Carl Czerny", ROMANTIC, 1791, 1857),
    "herold": ("Ferdinand Hérold", ROMANTIC, 1791, 1833),
    "meyerbeer": ("Giacomo Meyerbeer", ROMANTIC, 1791, 1864),
    "rossini": ("Gioachino Rossini", ROMANTIC, 1792, 1868),
    "schubert": ("Franz Schubert", ROMANTIC, 1797, 1828),
    "bellini": ("Vincenzo Bellini", ROMANTIC, 1801, 1835),
    "burgmuller": ("Friedrich Burgmüller", ROMANTIC, 1806, 1874),
    "mendelssohn": ("Felix Mendelssohn", ROMANTIC, 1809, 1847),
    "chopin": ("Frédéric Chopin", ROMANTIC, 1810, 1849),
    "nicolai": ("Otto Nicolai", ROMANTIC, 1810, 1849),
    "schumann": ("Robert Schumann", ROMANTIC, 1810, 1856),
    "liszt": ("Franz Liszt", ROMANTIC, 1811, 1886),
    "thomas": ("Ambroise Thomas", ROMANTIC, 1811, 1896),
    "flotow": ("Friedrich von Flotow", ROMANTIC, 1812, 1883),
    "alkan": ("Charles-Valentin Alkan", ROMANTIC, 1813, 1888),
    "heller": ("Stephen Heller", ROMANTIC, 1813, 1888),
    "verdi": ("Giuseppe Verdi", ROMANTIC, 1813, 1901),
    "wagner": ("Richard Wagner", ROMANTIC, 1813, 1883),
    "schumann_clara": ("Clara Schumann", ROMANTIC, 1819, 1896),
    "suppe": ("Franz von Suppé", ROMANTIC, 1819, 1895),
    "franck": ("César Franck", ROMANTIC, 1822, 1890),
    "raff": ("Joachim Raff", ROMANTIC, 1822, 1882),
    "reinecke": ("Carl Reinecke", ROMANTIC, 1824, 1910),
    "strauss_j": ("Johann Strauss II", ROMANTIC, 1825, 1899),
    "gottschalk": ("Louis Moreau Gottschalk", ROMANTIC, 1829, 1869),
    "lange": ("Gustav Lange", ROMANTIC, 1830, 1889),
    "brahms": ("Johannes Brahms", ROMANTIC, 1833, 1897),
    "borodin": ("Alexander Borodin", ROMANTIC, 1833, 1887),
    "saint_saens": ("Camille Saint-Saëns", ROMANTIC, 1835, 1921),
    "jensen": ("Adolf Jensen", ROMANTIC, 1837, 1879),
    "bizet": ("Georges Bizet", ROMANTIC, 1838, 1875),
    "liliuokalani": ("Liliʻuokalani", ROMANTIC, 1838, 1917),
    "mussorgsky": ("Modest Mussorgsky", ROMANTIC, 1839, 1881),
    "tchaikovsky": ("Pyotr Ilyich Tchaikovsky", ROMANTIC, 1840, 1893),
    "chabrier": ("Emmanuel Chabrier", ROMANTIC, 1841, 1894),
    "dvorak": ("Antonín Dvořák", ROMANTIC, 1841, 1904),
    "lyssenko": ("Mykola Lysenko", ROMANTIC, 1842, 1912),
    "massenet": ("Jules Massenet", ROMANTIC, 1842, 1912),
    "sullivan": ("Arthur Sullivan", ROMANTIC, 1842, 1900),
    "grieg": ("Edvard Grieg", ROMANTIC, 1843, 1907),
    "rimsky_korsakov": ("Nikolai Rimsky-Korsakov", ROMANTIC, 1844, 1908),
    "sarasate": ("Pablo de Sarasate", ROMANTIC, 1844, 1908),
    "faure": ("Gabriel Fauré", ROMANTIC, 1845, 1924),
    "moszkowski": ("Moritz Moszkowski", ROMANTIC, 1854, 1925),
    "chaminade": ("Cécile Chaminade", ROMANTIC, 1857, 1944),
    "albeniz": ("Isaac Albéniz", ROMANTIC, 1860, 1909),
    "paderewski": ("Ignacy Jan Paderewski", ROMANTIC, 1860, 1941),
    "wolf": ("Hugo Wolf", ROMANTIC, 1860, 1903),
    "arensky": ("Anton Arensky", ROMANTIC, 1861, 1906),
    "german": ("Edward German", ROMANTIC, 1862, 1936),
    "ganne": ("Louis Ganne", ROMANTIC, 1862, 1923),
    "beach": ("Amy Beach", ROMANTIC, 1867, 1944),
    "peterson": ("Wilhelm Peterson-Berger", ROMANTIC, 1867, 1942),
    "maccunn": ("Hamish MacCunn", ROMANTIC, 1868, 1916),
    "fucick": ("Julius Fučík", ROMANTIC, 1872, 1916),
    # 20th century
    "debussy": ("Claude Debussy", MODERN, 1862, 1918),
    "satie": ("Erik Satie", MODERN, 1866, 1925),
    "joplin": ("Scott Joplin", MODERN, 1868, 1917),
    "straus": ("Oscar Straus", MODERN, 1870, 1954),
    "scriabin": ("Alexander Scriabin", MODERN, 1872, 1915),
    "busser": ("Henri Büsser", MODERN, 1872, 1973),
    "rachmaninoff": ("Sergei Rachmaninoff", MODERN, 1873, 1943),
    "reger": ("Max Reger", MODERN, 1873, 1916),
    "johnson_j_r": ("J. Rosamond Johnson", MODERN, 1873, 1954),
    "botsford": ("George Botsford", MODERN, 1874, 1949),
    "holst": ("Gustav Holst", MODERN, 1874, 1934),
    "schoenberg": ("Arnold Schoenberg", MODERN, 1874, 1951),
    "ravel": ("Maurice Ravel", MODERN, 1875, 1937),
    "coleridge": ("Samuel Coleridge-Taylor", MODERN, 1875, 1912),
    "vaughan_williams": ("Ralph Vaughan Williams", MODERN, 1872, 1958),
    "swinstead": ("Felix Swinstead", MODERN, 1880, 1959),
    "bartok": ("Béla Bartók", MODERN, 1881, 1945),
    "grainger": ("Percy Grainger", MODERN, 1882, 1961),
    "stravinsky": ("Igor Stravinsky", MODERN, 1882, 1971),
    "webern": ("Anton Webern", MODERN, 1883, 1945),
    "griffes": ("Charles Tomlinson Griffes", MODERN, 1884, 1920),
    "coates": ("Eric Coates", MODERN, 1886, 1957),
    "berlin": ("Irving Berlin", MODERN, 1888, 1989),
    "arndt": ("Felix Arndt", MODERN, 1889, 1918),
    "taube": ("Evert Taube", MODERN, 1890, 1976),
    "prokofiev": ("Sergei Prokofiev", MODERN, 1891, 1953),
    "lecuona": ("Ernesto Lecuona", MODERN, 1895, 1963),
    "gershwin": ("George Gershwin", MODERN, 1898, 1937),
    "poulenc": ("Francis Poulenc", MODERN, 1899, 1963),
    "copland": ("Aaron Copland", MODERN, 1900, 1990),
    "shostakovich": ("Dmitri Shostakovich", MODERN, 1906, 1975),
    "bacewitz": ("Grażyna Bacewicz", MODERN, 1909, 1969),
    "barber": ("Samuel Barber", MODERN, 1910, 1981),
    "ginastera": ("Alberto Ginastera", MODERN, 1916, 1983),
    "bernstein": ("Leonard Bernstein", MODERN, 1918, 1990),
    # collections (music21's corpus) and folk
    "essen_folksong": ("Essen folk songs", COLLECTIONS, 0, 0),
    "oneills1850": ("O'Neill's Music of Ireland (1850)", COLLECTIONS, 0, 0),
    "airds_airs": ("Aird's Airs", COLLECTIONS, 0, 0),
    "ryans_mammoth": ("Ryan's Mammoth Collection", COLLECTIONS, 0, 0),
    "misc_folk": ("Folk tunes (various)", COLLECTIONS, 0, 0),
    "folk": ("Folk tunes", COLLECTIONS, 0, 0),
    "nottingham_dataset": ("Nottingham folk tunes", COLLECTIONS, 0, 0),
    "lead_sheet": ("Lead sheets", COLLECTIONS, 0, 0),
    # labels standing for many composers
    "other": ("Other composers (mixed)", OTHER, 0, 0),
}

# The names a musician looks for first, most familiar first: ``featured`` keeps those a model has.
FEATURED: tuple[str, ...] = (
    "bach", "mozart", "beethoven", "chopin", "haydn", "schubert", "handel", "vivaldi", "scarlatti", "brahms",
    "schumann", "mendelssohn", "liszt", "tchaikovsky", "rachmaninoff", "debussy", "joplin", "dvorak", "grieg",
    "ravel", "satie", "gershwin",
)


@dataclass(frozen=True)
class ComposerName:
    """How a label is shown: ``name`` ("J. S. Bach"), ``era`` (one of ``ERAS``) and life dates (0: unknown)."""

    label: str
    name: str
    era: str
    born: int = 0
    died: int = 0

    @property
    def years(self) -> str:
        """"1685-1750" (with an en dash), "b. 1400", or "" when unknown."""
        if self.born and self.died:
            return f"{self.born}\u2013{self.died}"
        return f"b. {self.born}" if self.born else ""


def composer_name(label: str) -> ComposerName:
    """The display name, era and dates of ``label``; an unknown label is title-cased, in "Other"."""
    known = _KNOWN.get(label)
    if known is not None:
        return ComposerName(label, *known)
    return ComposerName(label, " ".join(w.capitalize() for w in label.replace("_", " ").split()) or label, OTHER)


def display_name(label: str) -> str:
    """"J. S. Bach" for ``bach``; an unknown label title-cased."""
    return composer_name(label).name


def _sort_key(entry: ComposerName) -> tuple:
    return ERAS.index(entry.era), entry.born or 10_000, entry.name.casefold()


def grouped(labels: Iterable[str]) -> dict[str, list[ComposerName]]:
    """``labels`` by era (in ``ERAS`` order, empty eras left out), chronological within an era."""
    groups: dict[str, list[ComposerName]] = {}
    for entry in sorted((composer_name(x) for x in labels), key=_sort_key):
        groups.setdefault(entry.era, []).append(entry)
    return groups


def featured(labels: Sequence[str], amounts: Mapping[str, float] | None = None, n: int = 10) -> list[str]:
    """The short list shown first: up to ``n`` of ``FEATURED`` that the model has, in ``FEATURED`` order.
    With ``amounts`` (label -> how much training data), the ``n`` best-trained of them are kept."""
    have = [x for x in FEATURED if x in labels]
    if amounts:
        best = set(sorted(have, key=lambda x: -amounts.get(x, 0.0))[:n])
        return [x for x in have if x in best]
    return have[:n]


def _key(text: str) -> str:
    return (normalize_label(text) or "").replace("_", "")


def resolve_composer(text: str, labels: Sequence[str]) -> str | None:
    """The label of ``labels`` that ``text`` names, or None: the label itself, a spelling the data builder
    normalises to it ("Dvořák", "Haendel", "Vaughan Williams"), or its display name in any case, spacing
    and punctuation ("J. S. Bach", "js bach", "Frederic Chopin")."""
    if text in labels:
        return text
    label = normalize_label(text)
    if label in labels:
        return label
    key = _key(text)
    if not key:
        return None
    for candidate in labels:
        if key in (candidate.replace("_", ""), _key(display_name(candidate))):
            return candidate
    return None


def suggest(text: str, labels: Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` labels close to a misspelt ``text`` (by label or display name), closest first."""
    key = _key(text)
    by_key: dict[str, str] = {}
    for label in labels:
        by_key.setdefault(label.replace("_", ""), label)
        by_key.setdefault(_key(display_name(label)), label)
    found: list[str] = []
    for match in difflib.get_close_matches(key, list(by_key), n=2 * n, cutoff=0.6):
        if by_key[match] not in found:
            found.append(by_key[match])
    return found[:n]


__all__ = ["ERAS", "FEATURED", "ComposerName", "composer_name", "display_name", "featured", "grouped",
           "resolve_composer", "suggest"]
