from flask import Blueprint, jsonify

from db import get_db

api = Blueprint("api", __name__)


@api.route("/notes")
def notes():
    rows = get_db().execute("SELECT id, text, author FROM notes ORDER BY id").fetchall()
    return jsonify([dict(row) for row in rows])
