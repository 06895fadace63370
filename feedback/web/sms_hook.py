"""(being written)"""

routes: list = []

async def inbound(request):
    raise NotImplementedError
