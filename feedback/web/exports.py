"""(being written)"""

routes: list = []

api_routes: list = []
