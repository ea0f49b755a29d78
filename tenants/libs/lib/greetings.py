"""A library module: importable by this tenant only, never routed."""

GREETINGS = {"en": "Hello", "fr": "Bonjour", "de": "Hallo"}


def greet(name, lang="en"):
    return f"{GREETINGS.get(lang, GREETINGS['en'])}, {name}!"
