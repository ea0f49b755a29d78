"""A small Flask app, unchanged: templates, a blueprint in another file,
a session, flash messages and a SQLite table in the tenant's /data."""

from flask import Flask, flash, g, redirect, render_template, request, session, url_for

from db import get_db
from views.api import api

app = Flask(__name__)
app.register_blueprint(api, url_prefix="/api")


@app.before_request
def who():
    g.user = session.get("user")


@app.route("/")
def index():
    notes = get_db().execute("SELECT id, text, author FROM notes ORDER BY id DESC").fetchall()
    return render_template("index.html", notes=notes)


@app.route("/login", methods=["POST"])
def login():
    session["user"] = request.form.get("name", "").strip() or "anonymous"
    flash(f"Signed in as {session['user']}")
    return redirect(url_for("index"))


@app.route("/notes", methods=["POST"])
def add_note():
    text = request.form.get("text", "").strip()
    if not text:
        flash("A note needs some text")
    else:
        with get_db() as db:
            db.execute("INSERT INTO notes (text, author) VALUES (?, ?)", (text, g.user or "anonymous"))
    return redirect(url_for("index"))


@app.errorhandler(404)
def not_found(error):
    return render_template("404.html"), 404
