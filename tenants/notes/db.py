import sqlite3


def get_db():
    """The tenant's database, /data/notes.db, made on first use."""
    db = sqlite3.connect("notes.db")
    db.row_factory = sqlite3.Row
    db.execute("CREATE TABLE IF NOT EXISTS notes ("
               "id INTEGER PRIMARY KEY, text TEXT NOT NULL, author TEXT NOT NULL)")
    return db
