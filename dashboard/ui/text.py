"""Page titles and button labels, in one place: the browser tests find elements by these words,
so they stay stable. Change one here and the pages follow.
"""

from __future__ import annotations

from dashboard.engine.catalog import lessons

# Page titles (each page's st.title) and the navigation labels.
TITLE_WHY = "Why Docker"
# The lessons' own come from the catalog (engine/catalog/lessons.py).
TITLE_LESSON1 = lessons.get("lesson1").title
TITLE_CACHE = lessons.get("cache").title
TITLE_MULTISTAGE = lessons.get("multistage").title
TITLE_COMPOSE = lessons.get("compose").title
TITLE_REGISTRY = lessons.get("registry").title
TITLE_GPU = "GPUs in containers"
TITLE_SIZES = "Image sizes and clean-up"
TITLE_CICD = "CI/CD with Docker"
TITLE_DOWN = "Docker is not reachable"
TITLE_WELCOME = "Welcome to the Docker class"
TITLE_CLASSROOM = "Classroom: every student"

# Buttons. Lesson 1.
BUILD_IRIS = "Build iris-model:1.0"
RUN_IRIS = "Run iris-model:1.0"


def build_label(image: str) -> str:
    """The build button says the image it builds (a classroom student's own name included)."""
    return f"Build {image}"


def run_label(image: str) -> str:
    return f"Run {image}"


def plural(count: int, word: str) -> str:
    """'1 dashboard comment', '2 dashboard comments'."""
    return f"{count} {word}" + ("" if count == 1 else "s")


REGISTRY_UP = "Start the registry"
REGISTRY_PUSH = "Push iris-model:1.0"
REGISTRY_PUSH_SECOND = "Push iris-model:2.0"
REGISTRY_READ = "Read the registry"
REGISTRY_RMI = "docker rmi"
REGISTRY_PULL = "docker pull"
REGISTRY_RUN = "docker run"
REGISTRY_DOWN = "Stop the registry"
REFRESH_CONTAINERS = "Refresh the list"
STOP_CONTAINER = "Stop container"
REMOVE_CONTAINER = "Remove container"
START_DETACHED = "Start detached container"
RUN_EXEC = "Run docker exec"
FOLLOW_LOGS = "Follow logs"
STOP_FOLLOWING = "Stop following"

# The Makefile (lessons 1 and 3).
MAKE_ADD_TARGET = "Add the target"
MAKE_RESET = "Reset the Makefile"

# Layers and the cache.
APPEND_COMMENT = "Append a comment to main.py"
SAVE_EDIT = "Save main.py"
RESET_COPY = "Reset the working copy"
REBUILD_COPY = "Rebuild the working copy"
COMPARE_ORDERS = "Edit main.py and rebuild both Dockerfiles"

# Lesson 3.
BUILD_MULTISTAGE = "Build iris-model:2.0"
RUN_MULTISTAGE = "Run iris-model:2.0"
BUILD_ONNX = "Build iris-model:2.0-onnx"
RUN_ONNX = "Run iris-model:2.0-onnx"

# Lesson 4.
COMPOSE_BUILD = "Build the wine images"
COMPOSE_UP = "Start the wine pair"
COMPOSE_DOWN = "Stop and remove the pair"

# GPU.
GPU_RUN = "Train and predict (GPU if available)"
GPU_PROBE = "Probe the GPU with nvidia-smi"

# Sizes.
ANALYSE_IMAGE = "Analyse wasted space"
CLEAN_SESSION = "Remove this session's containers"
CLEAN_SESSION_VOLUMES = "Remove this session's containers, networks and volumes"
CLEAN_ALL = "Remove everything the dashboard made"

# Classroom mode.
STUDENT_NAME = "Your name"
START_CLASS = "Start"
CHANGE_NAME = "Change name"
INSTRUCTOR_KEY = "Instructor key"
RESET_STUDENT = "Remove this student's containers, volumes and images"

# Any running build, run or Compose pair.
CANCEL = "Cancel"
BUILD_AGAIN = "Build again"

# The banner about what earlier (crashed) dashboard sessions left behind.
CLEAN_LEFTOVERS = "Clean up leftovers"
DISMISS_LEFTOVERS = "Dismiss"

# Sidebar and the daemon page.
PRESENTATION = "Presentation mode"
REFRESH_STATUS = "Refresh status"
RETRY = "Retry"
