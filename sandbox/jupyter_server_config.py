# The room console inside the stage-1 sandbox, served by jupyter-server-proxy at <user server>/cleanroom/.
#
# - Only the notebook's own user reaches it: the proxy sits behind the single-user server, which checks JupyterHub's
#   login on every request, and talks to the console over a Unix socket in a private directory it creates
#   (unix_socket: True), so no other process or pod can connect. The console still checks the origin and a CSRF
#   token on every POST (jupyter-server-proxy leaves XSRF to the proxied app).
# - The workspace is the user's home; the room descriptor is mounted by the Helm values (singleuser.extraFiles).
# - The console acts with the pod's credentials (the sandbox's service account: the stage-1 bucket only), never more.
import os

c = get_config()  # noqa: F821 (provided by Jupyter when it loads this file)

ROOM = os.environ.get("CLEANROOM_ROOM_DESCRIPTOR", "/etc/cleanroom/room.json")
HOME = os.path.expanduser("~")

c.ServerProxy.servers = {
    "cleanroom": {
        "command": [
            "cleanroom",
            "console",
            "--room",
            ROOM,
            "--workspace",
            HOME,
            "--unix-socket",
            "{unix_socket}",
            "--base-path",
            "{base_url}cleanroom/",
        ],
        "unix_socket": True,
        "absolute_url": True,
        "timeout": 30,
        "new_browser_tab": True,
        "launcher_entry": {
            "enabled": True,
            "title": "Clean room",
            "icon_path": "/opt/cleanroom/cleanroom.svg",
        },
    }
}
