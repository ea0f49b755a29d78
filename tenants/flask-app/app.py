"""A Flask app, unchanged: decorators, converters, methods, jsonify, abort.

Routes (relative to the tenant): GET /users, POST /users, GET /users/<int:id>.
"""

from flask import Flask, abort, jsonify, request

app = Flask(__name__)

USERS = {1: {"id": 1, "name": "Ada"}, 2: {"id": 2, "name": "Grace"}}


@app.route("/users", methods=["GET"])
def list_users():
    return jsonify(sorted(USERS.values(), key=lambda u: u["id"]))


@app.post("/users")
def create_user():
    body = request.get_json(force=True)
    if not isinstance(body, dict) or "name" not in body:
        abort(400, "a JSON object with a name is needed")
    user_id = max(USERS) + 1
    USERS[user_id] = {"id": user_id, "name": str(body["name"])}
    return USERS[user_id], 201, {"Location": f"/flask-app/users/{user_id}"}


@app.get("/users/<int:user_id>")
def show_user(user_id):
    user = USERS.get(user_id)
    if user is None:
        abort(404, f"no user {user_id}")
    return user
