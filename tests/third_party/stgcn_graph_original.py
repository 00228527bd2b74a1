# Verbatim copy of the original ST-GCN graph code: yysijie/st-gcn net/utils/graph.py and
# PaddlePaddle/PaddleVideo paddlevideo/modeling/backbones/stgcn.py (see the comment block below).
# Do not edit, format or "improve" it: tests/test_graph.py proves sign_notes.graph equal to this code, bit for bit.
# Ruff and the duplicates check skip tests/third_party.
import numpy as np


# ---------------------------------------------------------------------------------------------------------------
# Reference: a literal transcription of the original code.
# get_hop_distance / normalize_digraph / Graph.get_adjacency: yysijie/st-gcn net/utils/graph.py (uniform, distance,
# spatial). get_edge: the 'openpose' and 'ntu-rgb+d' branches from st-gcn, 'fsd10' and 'coco_keypoint' from
# PaddlePaddle/PaddleVideo paddlevideo/modeling/backbones/stgcn.py; a 'mediapipe-hand' branch written in the same
# style from MediaPipe's HAND_CONNECTIONS, and the "customer settings" slot filled with a (num_node, edges, center)
# tuple, so the reference covers every layout of sign_notes.graph. Do not "improve" this code.
# ---------------------------------------------------------------------------------------------------------------
class RefGraph():

    def __init__(self,
                 layout='openpose',
                 strategy='uniform',
                 max_hop=1,
                 dilation=1):
        self.max_hop = max_hop
        self.dilation = dilation

        self.get_edge(layout)
        self.hop_dis = ref_get_hop_distance(
            self.num_node, self.edge, max_hop=max_hop)
        self.get_adjacency(strategy)

    def get_edge(self, layout):
        if layout == 'openpose':
            self.num_node = 18
            self_link = [(i, i) for i in range(self.num_node)]
            neighbor_link = [(4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12,
                                                                        11),
                             (10, 9), (9, 8), (11, 5), (8, 2), (5, 1), (2, 1),
                             (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)]
            self.edge = self_link + neighbor_link
            self.center = 1
        elif layout == 'ntu-rgb+d':
            self.num_node = 25
            self_link = [(i, i) for i in range(self.num_node)]
            neighbor_1base = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21),
                              (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
                              (11, 10), (12, 11), (13, 1), (14, 13), (15, 14),
                              (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
                              (22, 23), (23, 8), (24, 25), (25, 12)]
            neighbor_link = [(i - 1, j - 1) for (i, j) in neighbor_1base]
            self.edge = self_link + neighbor_link
            self.center = 21 - 1
        elif layout == 'fsd10':
            self.num_node = 25
            self_link = [(i, i) for i in range(self.num_node)]
            neighbor_link = [(1, 8), (0, 1), (15, 0), (17, 15), (16, 0),
                             (18, 16), (5, 1), (6, 5), (7, 6), (2, 1), (3, 2),
                             (4, 3), (9, 8), (10, 9), (11, 10), (24, 11),
                             (22, 11), (23, 22), (12, 8), (13, 12), (14, 13),
                             (21, 14), (19, 14), (20, 19)]
            self.edge = self_link + neighbor_link
            self.center = 8
        elif layout == 'coco_keypoint':
            self.num_node = 17
            self_link = [(i, i) for i in range(self.num_node)]
            neighbor_1base = [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
                              (5, 7), (6, 8), (7, 9), (8, 10), (5, 11), (6, 12),
                              (11, 13), (12, 14), (13, 15), (14, 16), (11, 12)]
            neighbor_link = [(i, j) for (i, j) in neighbor_1base]
            self.edge = self_link + neighbor_link
            self.center = 11
        elif layout == 'mediapipe-hand':
            self.num_node = 21
            self_link = [(i, i) for i in range(self.num_node)]
            neighbor_link = [(0, 1), (0, 5), (9, 13), (13, 17), (5, 9), (0, 17),   # HAND_PALM_CONNECTIONS
                             (1, 2), (2, 3), (3, 4),                                # HAND_THUMB_CONNECTIONS
                             (5, 6), (6, 7), (7, 8),                                # HAND_INDEX_FINGER_CONNECTIONS
                             (9, 10), (10, 11), (11, 12),                           # HAND_MIDDLE_FINGER_CONNECTIONS
                             (13, 14), (14, 15), (15, 16),                          # HAND_RING_FINGER_CONNECTIONS
                             (17, 18), (18, 19), (19, 20)]                          # HAND_PINKY_FINGER_CONNECTIONS
            self.edge = self_link + neighbor_link
            self.center = 0
        elif isinstance(layout, tuple):  # 'customer settings'
            self.num_node = layout[0]
            self_link = [(i, i) for i in range(self.num_node)]
            self.edge = self_link + list(layout[1])
            self.center = layout[2]
        else:
            raise ValueError("Do Not Exist This Layout.")

    def get_adjacency(self, strategy):
        valid_hop = range(0, self.max_hop + 1, self.dilation)
        adjacency = np.zeros((self.num_node, self.num_node))
        for hop in valid_hop:
            adjacency[self.hop_dis == hop] = 1
        normalize_adjacency = ref_normalize_digraph(adjacency)

        if strategy == 'uniform':
            A = np.zeros((1, self.num_node, self.num_node))
            A[0] = normalize_adjacency
            self.A = A
        elif strategy == 'distance':
            A = np.zeros((len(valid_hop), self.num_node, self.num_node))
            for i, hop in enumerate(valid_hop):
                A[i][self.hop_dis == hop] = normalize_adjacency[self.hop_dis ==
                                                                hop]
            self.A = A
        elif strategy == 'spatial':
            A = []
            for hop in valid_hop:
                a_root = np.zeros((self.num_node, self.num_node))
                a_close = np.zeros((self.num_node, self.num_node))
                a_further = np.zeros((self.num_node, self.num_node))
                for i in range(self.num_node):
                    for j in range(self.num_node):
                        if self.hop_dis[j, i] == hop:
                            if self.hop_dis[j, self.center] == self.hop_dis[
                                    i, self.center]:
                                a_root[j, i] = normalize_adjacency[j, i]
                            elif self.hop_dis[j, self.
                                              center] > self.hop_dis[i, self.
                                                                     center]:
                                a_close[j, i] = normalize_adjacency[j, i]
                            else:
                                a_further[j, i] = normalize_adjacency[j, i]
                if hop == 0:
                    A.append(a_root)
                else:
                    A.append(a_root + a_close)
                    A.append(a_further)
            A = np.stack(A)
            self.A = A
        else:
            raise ValueError("Do Not Exist This Strategy")


def ref_get_hop_distance(num_node, edge, max_hop=1):
    A = np.zeros((num_node, num_node))
    for i, j in edge:
        A[j, i] = 1
        A[i, j] = 1

    # compute hop steps
    hop_dis = np.zeros((num_node, num_node)) + np.inf
    transfer_mat = [np.linalg.matrix_power(A, d) for d in range(max_hop + 1)]
    arrive_mat = (np.stack(transfer_mat) > 0)
    for d in range(max_hop, -1, -1):
        hop_dis[arrive_mat[d]] = d
    return hop_dis


def ref_normalize_digraph(A):
    Dl = np.sum(A, 0)
    num_node = A.shape[0]
    Dn = np.zeros((num_node, num_node))
    for i in range(num_node):
        if Dl[i] > 0:
            Dn[i, i] = Dl[i]**(-1)
    AD = np.dot(A, Dn)
    return AD
