"""Counting words."""


def count_words(text):
    """The number of words in `text`, separated by any whitespace."""
    return len(text.split(" "))
